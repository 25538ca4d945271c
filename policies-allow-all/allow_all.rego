# Allow-all policy for benchmarks and conformance runs ONLY: every subject sees
# every tool, prompt, resource and resource template, and every decision
# (tools/call, prompts/get, resources/read|subscribe|unsubscribe) is allowed,
# with no redaction. Never deploy it in front of real servers. Kept outside
# policies/, which is built as one bundle.
# Build: opa build -t wasm -e portcullis/visible -e portcullis/decision policies-allow-all -o bundles/allow-all.tar.gz
package portcullis

# Every key of whichever list the input carries (input.tools, input.prompts,
# input.resources or input.resource_templates), whatever the action.
visible contains item.key if {
	some field in ["tools", "prompts", "resources", "resource_templates"]
	some item in input[field]
}

decision := {"outcome": "allow", "reasons": []}
