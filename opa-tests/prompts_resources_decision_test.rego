# prompts/get and resources/read|subscribe|unsubscribe: outcome, reasons,
# redaction, approval and credential for every role.
package portcullis_test

import data.portcullis

# --- prompts/get ------------------------------------------------------------

test_prompt_get_engineer_allowed if {
	portcullis.decision == allow("prompt notes__summarize_note allowed for role(s) engineer", full_redact) with input as prompt_get(subject(["engineer"]), notes_server, "summarize_note", {"id": "n1"})
}

test_prompt_get_allowed_for_every_role_with_tool_access if {
	every role in ["admin", "engineer", "analyst"] {
		d := portcullis.decision with input as prompt_get(subject([role]), files_server, "explain_file", {})
		d == allow(concat("", ["prompt files__explain_file allowed for role(s) ", role]), full_redact)
	}
}

test_prompt_get_granting_roles_listed if {
	d := portcullis.decision with input as prompt_get(subject(["pii-reader", "engineer", "analyst", "intern"]), notes_server, "draft_note", {})
	d.reasons == ["prompt notes__draft_note allowed for role(s) analyst, engineer"]
}

test_prompt_get_anonymous_as_analyst if {
	subj := object.union(anonymous, {"roles": ["admin", "pii-reader"]})
	d := portcullis.decision with input as prompt_get(subj, notes_server, "summarize_note", {})
	d == allow("prompt notes__summarize_note allowed for role(s) analyst", full_redact)
}

test_prompt_get_unknown_role_denied if {
	every roles in [[], ["intern"], ["pii-reader"]] {
		d := portcullis.decision with input as prompt_get(subject(roles), notes_server, "summarize_note", {})
		d == {"outcome": "deny", "reasons": ["no role of this subject grants access to any prompt"]}
	}
}

test_prompt_get_role_without_tool_classes_denied if {
	d := portcullis.decision with input as prompt_get(subject(["reader"]), notes_server, "summarize_note", {})
		with data.portcullis.roles as {"reader": {"tool_classes": [], "resources": "all"}}
	d == {"outcome": "deny", "reasons": ["role(s) reader may not get prompt notes__summarize_note"]}
}

test_prompt_get_without_server_denied if {
	inp := object.remove(prompt_get(subject(["admin"]), notes_server, "summarize_note", {}), ["server"])
	d := portcullis.decision with input as inp
	d == {"outcome": "deny", "reasons": ["role(s) admin may not get prompt notes__summarize_note"]}
}

test_prompt_get_without_prompt_default_deny if {
	inp := object.remove(prompt_get(subject(["admin"]), notes_server, "summarize_note", {}), ["prompt"])
	portcullis.decision == {"outcome": "deny", "reasons": ["no policy rule allowed this call"]} with input as inp
}

test_prompt_get_pii_reader_unmasked_result if {
	d := portcullis.decision with input as prompt_get(subject(["analyst", "pii-reader"]), notes_server, "summarize_note", {})
	d.outcome == "allow"
	d.redact == pii_reader_redact
}

test_prompt_get_argument_card_mask_for_everyone if {
	every roles in [["engineer"], ["engineer", "pii-reader"]] {
		d := portcullis.decision with input as prompt_get(subject(roles), notes_server, "summarize_note", {"card": "4111 1111 1111 1111"})
		d.redact.arguments == {"drop": [], "mask": [card_mask]}
	}
}

test_prompt_get_vetoed_by_extra_deny_reason if {
	d := portcullis.decision with input as prompt_get(subject(["admin"]), notes_server, "summarize_note", {})
		with portcullis.deny_reasons as {"prompts are disabled"}
	d == {"outcome": "deny", "reasons": ["prompts are disabled"]}
}

# --- resources/read, subscribe, unsubscribe ---------------------------------

test_resource_read_engineer_allowed_on_untrusted_server if {
	portcullis.decision == allow("resource files__file:///srv/a.txt allowed for role(s) engineer", full_redact) with input as resource_read(subject(["engineer"]), files_server, "file:///srv/a.txt")
}

test_resource_all_actions_allowed_for_admin_everywhere if {
	every action in resource_actions {
		every server in [notes_server, files_server] {
			d := portcullis.decision with input as resource_op(subject(["admin"]), action, server, "x://1")
			d == allow(concat("", ["resource ", server.id, "__x://1 allowed for role(s) admin"]), full_redact)
		}
	}
}

test_resource_analyst_allowed_on_trusted_server if {
	every action in resource_actions {
		d := portcullis.decision with input as resource_op(subject(["analyst"]), action, notes_server, "note://n1")
		d == allow("resource notes__note://n1 allowed for role(s) analyst", full_redact)
	}
}

test_resource_analyst_denied_on_untrusted_server if {
	want := {
		"resources/read": "role(s) analyst may not read resource files__file:///srv/a.txt",
		"resources/subscribe": "role(s) analyst may not subscribe to resource files__file:///srv/a.txt",
		"resources/unsubscribe": "role(s) analyst may not unsubscribe from resource files__file:///srv/a.txt",
	}
	every action, reason in want {
		d := portcullis.decision with input as resource_op(subject(["analyst"]), action, files_server, "file:///srv/a.txt")
		d == {"outcome": "deny", "reasons": [reason]}
	}
}

test_resource_analyst_allowed_on_listed_server if {
	every action in resource_actions {
		d := portcullis.decision with input as resource_op(subject(["analyst"]), action, files_server, "file:///srv/a.txt")
			with data.portcullis.analyst_resource_servers as ["files"]
		d.outcome == "allow"
	}
}

test_resource_granting_roles_listed if {
	d := portcullis.decision with input as resource_read(subject(["analyst", "engineer", "pii-reader"]), notes_server, "note://n1")
	d.reasons == ["resource notes__note://n1 allowed for role(s) analyst, engineer"]
	d.redact == pii_reader_redact
}

test_resource_only_granting_roles_in_reason if {
	d := portcullis.decision with input as resource_read(subject(["analyst", "engineer"]), files_server, "file:///srv/a.txt")
	d.reasons == ["resource files__file:///srv/a.txt allowed for role(s) engineer"]
}

test_resource_anonymous_as_analyst if {
	subj := object.union(anonymous, {"roles": ["admin"]})
	d1 := portcullis.decision with input as resource_read(subj, notes_server, "note://n1")
	d1 == allow("resource notes__note://n1 allowed for role(s) analyst", full_redact)
	d2 := portcullis.decision with input as resource_read(subj, files_server, "file:///srv/a.txt")
	d2 == {"outcome": "deny", "reasons": ["role(s) analyst may not read resource files__file:///srv/a.txt"]}
}

test_resource_unknown_role_denied if {
	every action in resource_actions {
		d := portcullis.decision with input as resource_op(subject(["intern"]), action, notes_server, "note://n1")
		d == {"outcome": "deny", "reasons": ["no role of this subject grants access to any resource"]}
	}
}

test_resource_role_without_scope_denied if {
	d := portcullis.decision with input as resource_read(subject(["toolsmith"]), notes_server, "note://n1")
		with data.portcullis.roles as {"toolsmith": {"tool_classes": ["read_only"]}}
	d == {"outcome": "deny", "reasons": ["role(s) toolsmith may not read resource notes__note://n1"]}
}

test_resource_without_server_denied if {
	inp := object.remove(resource_read(subject(["admin"]), notes_server, "note://n1"), ["server"])
	d := portcullis.decision with input as inp
	d == {"outcome": "deny", "reasons": ["role(s) admin may not read resource notes__note://n1"]}
}

test_resource_judged_by_top_level_server if {
	# input.server is the one the gateway routes to; the copy inside the
	# resource does not widen access.
	inp := object.union(resource_read(subject(["analyst"]), files_server, "file:///a"), {"resource": {"key": "files__file:///a", "uri": "file:///a", "server": notes_server}})
	d := portcullis.decision with input as inp
	d.outcome == "deny"
}

test_resource_without_resource_default_deny if {
	inp := object.remove(resource_read(subject(["admin"]), notes_server, "note://n1"), ["resource"])
	portcullis.decision == {"outcome": "deny", "reasons": ["no policy rule allowed this call"]} with input as inp
}

test_resource_key_must_be_a_string if {
	inp := object.union(resource_read(subject(["admin"]), notes_server, "note://n1"), {"resource": {"key": 7, "uri": "note://n1"}})
	d := portcullis.decision with input as inp
	d.outcome == "deny"
}

# --- redaction, approval and credential for prompts and resources -----------

test_drops_apply_to_tools_only if {
	all_drops := {
		"arguments": {"notes": {"*": ["/secret"], "summarize_note": ["/secret2"]}},
		"result": {"notes": {"*": ["/_meta"], "summarize_note": ["/messages"], "note://n1": ["/contents"]}},
	}
	d1 := portcullis.decision with input as prompt_get(subject(["engineer"]), notes_server, "summarize_note", {})
		with data.portcullis.drop as all_drops
	d1.redact == full_redact
	d2 := portcullis.decision with input as resource_read(subject(["engineer"]), notes_server, "note://n1")
		with data.portcullis.drop as all_drops
	d2.redact == full_redact
}

test_prompts_and_resources_never_need_approval_by_default if {
	every inp in [
		prompt_get(subject(["admin"]), notes_server, "summarize_note", {}),
		resource_read(subject(["engineer"]), files_server, "file:///srv/a.txt"),
	] {
		d := portcullis.decision with input as inp
		d.outcome == "allow"
		not "approval" in object.keys(d)
	}
}

test_resource_approval_class if {
	d := portcullis.decision with input as resource_read(subject(["engineer"]), files_server, "file:///srv/a.txt")
		with data.portcullis.approval.classes as ["destructive", "resource"]
	d == {
		"outcome": "needs_approval",
		"reasons": ["resource files__file:///srv/a.txt requires approval by reviewers"],
		"redact": full_redact,
		"approval": approval,
	}
	p := portcullis.decision with input as prompt_get(subject(["engineer"]), notes_server, "summarize_note", {})
		with data.portcullis.approval.classes as ["destructive", "resource"]
	p.outcome == "allow"
}

test_prompt_approval_class if {
	d := portcullis.decision with input as prompt_get(subject(["analyst"]), notes_server, "summarize_note", {})
		with data.portcullis.approval.classes as ["prompt"]
	d.outcome == "needs_approval"
	d.reasons == ["prompt notes__summarize_note requires approval by reviewers"]
}

test_no_credential_for_prompts_or_resources if {
	c := {"notes": {"read_only": "notes-ro", "prompt": "p", "resource": "r"}}
	every inp in [
		prompt_get(subject(["engineer"]), notes_server, "summarize_note", {}),
		resource_read(subject(["engineer"]), notes_server, "note://n1"),
	] {
		d := portcullis.decision with input as inp with data.portcullis.credentials as c
		d.outcome == "allow"
		not "credential" in object.keys(d)
	}
}

test_tool_named_like_prompt_kind_unchanged if {
	# target_class for tools is still the tool class.
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "read_note")
		with data.portcullis.approval.classes as ["prompt", "resource"]
	d.outcome == "allow"
}

test_stray_tool_member_ignored_outside_tools_call if {
	# Dispatch is on input.action: a prompts/get or resources/read input that
	# also carries a "tool" gets neither that tool's drops nor its credential.
	stray := {"tool": call_tool(notes_server, "read_note", notes_tools.read_note)}
	drops_for_tool := {"arguments": {"notes": {"read_note": ["/a"]}}, "result": {"notes": {"*": ["/b"]}}}
	every inp in [
		object.union(prompt_get(subject(["engineer"]), notes_server, "summarize_note", {}), stray),
		object.union(resource_read(subject(["engineer"]), notes_server, "note://n1"), stray),
	] {
		d := portcullis.decision with input as inp
			with data.portcullis.drop as drops_for_tool
			with data.portcullis.credentials as {"notes": {"read_only": "notes-ro"}}
		d.redact == full_redact
		not "credential" in object.keys(d)
	}
}

# object.union merges objects recursively, so replace "server" explicitly.
with_server(obj, server) := object.union(object.remove(obj, ["server"]), {"server": server})

test_server_without_id_grants_nothing if {
	every inp in [
		prompts_list(subject(["admin"]), [with_server(list_prompt(notes_server, "p"), {})]),
		resources_list(subject(["admin"]), [with_server(list_resource(notes_server, "r"), {})]),
		templates_list(subject(["admin"]), [with_server(list_template(notes_server, "t"), null)]),
	] {
		portcullis.visible == set() with input as inp
	}
	d := portcullis.decision with input as with_server(prompt_get(subject(["admin"]), notes_server, "p", {}), {})
	d == {"outcome": "deny", "reasons": ["role(s) admin may not get prompt notes__p"]}
}

test_stray_tool_member_grants_nothing if {
	# A role without resource scope is not let in by a "tool" it could call.
	inp := object.union(
		resource_read(subject(["toolsmith"]), notes_server, "note://n1"),
		{"tool": call_tool(notes_server, "read_note", notes_tools.read_note)},
	)
	d := portcullis.decision with input as inp
		with data.portcullis.roles as {"toolsmith": {"tool_classes": ["read_only"]}}
	d == {"outcome": "deny", "reasons": ["role(s) toolsmith may not read resource notes__note://n1"]}
}
