# Portcullis example policy: the two entrypoints the gateway evaluates.
#
#   data.portcullis.visible   - once per tools/list: the SET of tool keys the subject may see.
#   data.portcullis.decision  - once per tools/call: {outcome, reasons, redact, approval?, credential?}.
#
# The contract is documented in policies/README.md. Everything that varies per
# deployment (roles, trusted-tool overrides, approvers, masks, credential
# profiles) lives in policies/data.json under the key "portcullis".
#
# WASM note: this bundle is compiled with `opa build -t wasm` and evaluated by
# @open-policy-agent/opa-wasm, whose JS host implements only sprintf,
# regex.split and the JSON/YAML helpers. Any other builtin that is not compiled
# natively into the wasm module throws "not implemented" at run time (which
# the gateway turns into a deny). So these files use only natively compiled
# builtins: count, concat, object.union, membership (`in`), comparisons and
# comprehensions. Not even sprintf (a host call). Never time.* (use
# input.request.time), http.send, crypto.*, io.jwt.*: not native in OPA v1.22.2.
# The built policy.wasm imports no host builtin at all (its builtins() is {}).
#
# Performance note: WASM has no rule index, every rule body is walked on each
# evaluation. Per-role/per-server/per-tool facts are therefore looked up in
# objects from data.json, never written as one rule per tool.
package portcullis

# ---------------------------------------------------------------------------
# tools/list
# ---------------------------------------------------------------------------

# A tool is visible when its class (read_only / write / destructive, see
# tools.rego) is granted by at least one of the subject's roles. A subject
# without a known role gets the empty set, i.e. sees nothing.
visible contains tool.key if {
	some tool in input.tools
	tool_class(tool, tool.server) in granted_classes
}

# ---------------------------------------------------------------------------
# tools/call
# ---------------------------------------------------------------------------

# Fail closed: whatever no rule below covers is a deny.
default decision := {
	"outcome": "deny",
	"reasons": ["no policy rule allowed this call"],
}

# The three decision rules are mutually exclusive: a non-empty deny_reasons
# set wins; otherwise the call is either approval-gated or allowed.
decision := {
	"outcome": "deny",
	"reasons": [r | some r in deny_reasons],
} if {
	count(deny_reasons) > 0
}

decision := object.union(
	{
		"outcome": "needs_approval",
		"reasons": [approval_reason],
		"redact": redact,
		"approval": {
			"approvers": data.portcullis.approval.approvers,
			"timeout_seconds": data.portcullis.approval.timeout_seconds,
		},
	},
	credential_part,
) if {
	count(deny_reasons) == 0
	call_permitted
	needs_approval
}

decision := object.union(
	{
		"outcome": "allow",
		"reasons": [allow_reason],
		"redact": redact,
	},
	credential_part,
) if {
	count(deny_reasons) == 0
	call_permitted
	not needs_approval
}

# The class of the tool being called, judged against the server it lives on.
call_class := tool_class(input.tool, input.server)

call_permitted if {
	input.action == "tools/call"
	call_class in granted_classes
}

needs_approval if call_class in data.portcullis.approval.classes

# ---------------------------------------------------------------------------
# Deny reasons. Any rule added here vetoes the call (it is the extension point
# for e.g. argument checks); the reasons are shown to the caller.
# ---------------------------------------------------------------------------

deny_reasons contains msg if {
	input.action != "tools/call"
	msg := concat("", ["unsupported action for decision: ", input.action])
}

deny_reasons contains "no role of this subject grants access to any tool" if {
	count(access_roles) == 0
}

deny_reasons contains msg if {
	count(access_roles) > 0
	not call_class in granted_classes
	msg := concat("", [
		"role(s) ", concat(", ", [r | some r in access_roles]),
		" may not call ", call_class, " tool ", input.tool.key,
	])
}

# ---------------------------------------------------------------------------
# Reasons for allow / needs_approval (recorded in the audit log).
# ---------------------------------------------------------------------------

# The roles that actually grant the class of the called tool.
granting_roles contains r if {
	some r in access_roles
	call_class in data.portcullis.roles[r].tool_classes
}

allow_reason := concat("", [
	call_class, " tool ", input.tool.key,
	" allowed for role(s) ", concat(", ", [r | some r in granting_roles]),
])

approval_reason := concat("", [
	call_class, " tool ", input.tool.key,
	" requires approval by ", concat(", ", data.portcullis.approval.approvers),
])

# ---------------------------------------------------------------------------
# Downstream credential profile: data.portcullis.credentials[<server id>][<class>].
# Absent entry => no "credential" key in the decision.
# ---------------------------------------------------------------------------

default credential_part := {}

credential_part := {"credential": profile} if {
	profile := data.portcullis.credentials[input.server.id][call_class]
}
