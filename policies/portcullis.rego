# Portcullis example policy: the two entrypoints the gateway evaluates.
#
#   data.portcullis.visible   - once per list (tools/list, prompts/list,
#                               resources/list, resources/templates/list): the
#                               SET of item keys the subject may see.
#   data.portcullis.decision  - once per tools/call, prompts/get, resources/read,
#                               resources/subscribe, resources/unsubscribe:
#                               {outcome, reasons, redact, approval?, credential?}.
#
# The contract is documented in policies/README.md. Everything that varies per
# deployment (roles, trusted-tool overrides, approvers, masks, credential
# profiles, resource servers) lives in policies/data.json under the key
# "portcullis".
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
# Lists. Each rule reads only the list its action names, so an input whose
# action and list do not match shows nothing.
# ---------------------------------------------------------------------------

# tools/list: a tool is visible when its class (read_only / write /
# destructive, see tools.rego) is granted by at least one of the subject's
# roles. A subject without a known role gets the empty set, i.e. sees nothing.
visible contains tool.key if {
	input.action == "tools/list"
	some tool in input.tools
	tool_class(tool, tool.server) in granted_classes
}

# prompts/list (also the single-item check before prompts/get and a
# completion/complete on a prompt): see prompts_resources.rego.
visible contains prompt.key if {
	input.action == "prompts/list"
	some prompt in input.prompts
	count(prompt_roles(prompt.server)) > 0
}

# resources/list (also the single-item check before resources/read,
# resources/subscribe and resources/unsubscribe).
visible contains resource.key if {
	input.action == "resources/list"
	some resource in input.resources
	count(resource_roles(resource.server)) > 0
}

# resources/templates/list (also the single-item check before a
# completion/complete on a resource template).
visible contains template.key if {
	input.action == "resources/templates/list"
	some template in input.resource_templates
	count(resource_roles(template.server)) > 0
}

# ---------------------------------------------------------------------------
# Decisions: tools/call, prompts/get, resources/read|subscribe|unsubscribe
# ---------------------------------------------------------------------------

# What each decision action is about: the input member that holds the target
# (input.tool, input.prompt, input.resource) and the verb used in reasons.
# Any other action is denied.
decision_actions := {
	"tools/call": {"kind": "tool", "verb": "call"},
	"prompts/get": {"kind": "prompt", "verb": "get"},
	"resources/read": {"kind": "resource", "verb": "read"},
	"resources/subscribe": {"kind": "resource", "verb": "subscribe to"},
	"resources/unsubscribe": {"kind": "resource", "verb": "unsubscribe from"},
}

target_kind := decision_actions[input.action].kind

target := input[target_kind]

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

# The roles that grant this action on this target:
# - tools/call: the roles whose tool_classes include the tool's class;
# - prompts/get: prompt_roles, resources/*: resource_roles (prompts_resources.rego),
#   judged against the top-level input.server.
granting_roles contains r if {
	input.action == "tools/call"
	some r in access_roles
	call_class in data.portcullis.roles[r].tool_classes
}

granting_roles contains r if {
	target_kind == "prompt"
	some r in prompt_roles(input.server)
}

granting_roles contains r if {
	target_kind == "resource"
	some r in resource_roles(input.server)
}

call_permitted if {
	count(granting_roles) > 0
	is_string(target.key)
}

# What approval.classes is matched against: the tool's class for tools/call,
# "prompt" for prompts/get, "resource" for resources/*. The example lists only
# "destructive", so prompts and resources never need approval.
target_class := call_class if input.action == "tools/call"

target_class := target_kind if target_kind in {"prompt", "resource"}

needs_approval if target_class in data.portcullis.approval.classes

# ---------------------------------------------------------------------------
# Deny reasons. Any rule added here vetoes the call (it is the extension point
# for e.g. argument checks); the reasons are shown to the caller.
# ---------------------------------------------------------------------------

deny_reasons contains msg if {
	not decision_actions[input.action]
	msg := concat("", ["unsupported action for decision: ", input.action])
}

# "tool" for tools/call and for inputs without a supported action.
default kind_noun := "tool"

kind_noun := target_kind

deny_reasons contains msg if {
	count(access_roles) == 0
	msg := concat("", ["no role of this subject grants access to any ", kind_noun])
}

deny_reasons contains msg if {
	count(access_roles) > 0
	count(granting_roles) == 0
	msg := concat("", [
		"role(s) ", concat(", ", [r | some r in access_roles]),
		" may not ", decision_actions[input.action].verb, " ", target_desc,
	])
}

# ---------------------------------------------------------------------------
# Reasons for allow / needs_approval (recorded in the audit log).
# ---------------------------------------------------------------------------

# "write tool notes__create_note", "prompt notes__summarize",
# "resource notes__note://n1".
target_desc := concat("", [call_class, " tool ", input.tool.key]) if input.action == "tools/call"

target_desc := concat("", [target_kind, " ", target.key]) if target_kind in {"prompt", "resource"}

allow_reason := concat("", [
	target_desc,
	" allowed for role(s) ", concat(", ", [r | some r in granting_roles]),
])

approval_reason := concat("", [
	target_desc,
	" requires approval by ", concat(", ", data.portcullis.approval.approvers),
])

# ---------------------------------------------------------------------------
# Downstream credential profile: data.portcullis.credentials[<server id>][<class>].
# Absent entry => no "credential" key in the decision. tools/call only: the
# gateway issues credential profiles to tool calls, while prompts and
# resources travel over the upstream session as it is.
# ---------------------------------------------------------------------------

default credential_part := {}

credential_part := {"credential": profile} if {
	input.action == "tools/call"
	profile := data.portcullis.credentials[input.server.id][call_class]
}
