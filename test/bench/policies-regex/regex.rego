# Benchmark policy ONLY (test/bench/micro.mjs): a decision that runs regex.match on the tool's description and on
# an argument, to price regex.match per decision in opa-wasm. The patterns come from data.json so that the bench can
# build variants (one argument pattern, the same pattern 8 times, 8 distinct patterns) from this one file and tell
# compile cost from match cost. Visibility is allow-all. Never deploy it.
package portcullis

visible contains item.key if {
	some field in ["tools", "prompts", "resources", "resource_templates"]
	some item in input[field]
}

default decision := {"outcome": "deny", "reasons": ["bench: a regex did not match"]}

decision := {"outcome": "allow", "reasons": []} if {
	input.action == "tools/call"
	regex.match(data.bench.description_pattern, input.tool.description)
	every p in data.bench.argument_patterns {
		regex.match(p, input.arguments.text)
	}
}
