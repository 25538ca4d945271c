# Allow-all policy for benchmarks and conformance runs ONLY: every subject sees
# and may call every tool, with no redaction. Never deploy it in front of real
# servers. Kept outside policies/, which is built as one bundle.
# Build: opa build -t wasm -e portcullis/visible -e portcullis/decision policies-allow-all -o bundles/allow-all.tar.gz
package portcullis

visible contains tool.key if some tool in input.tools

decision := {"outcome": "allow", "reasons": []}
