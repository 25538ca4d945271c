# tools/call: outcome, reasons, approval, credential for every role.
package portcullis_test

import data.portcullis

allow(reason, redact) := {"outcome": "allow", "reasons": [reason], "redact": redact}

# --- engineer / admin -------------------------------------------------------

test_engineer_read_allowed if {
	portcullis.decision == allow("read_only tool notes__read_note allowed for role(s) engineer", full_redact) with input as notes_call(subject(["engineer"]), "read_note")
}

test_engineer_create_note_allowed if {
	portcullis.decision == allow("write tool notes__create_note allowed for role(s) engineer", full_redact) with input as notes_call(subject(["engineer"]), "create_note")
}

test_engineer_write_file_allowed_on_untrusted_server if {
	portcullis.decision == allow("write tool files__write_file allowed for role(s) engineer", full_redact) with input as files_call(subject(["engineer"]), "write_file")
}

test_engineer_delete_note_needs_approval if {
	portcullis.decision == {
		"outcome": "needs_approval",
		"reasons": ["destructive tool notes__delete_note requires approval by reviewers"],
		"redact": full_redact,
		"approval": approval,
	} with input as notes_call(subject(["engineer"]), "delete_note")
}

test_admin_delete_file_needs_approval if {
	d := portcullis.decision with input as files_call(subject(["admin"]), "delete_file")
	d.outcome == "needs_approval"
	d.approval == approval
	d.reasons == ["destructive tool files__delete_file requires approval by reviewers"]
}

test_admin_write_file_allowed if {
	d := portcullis.decision with input as files_call(subject(["admin"]), "write_file")
	d.outcome == "allow"
}

test_granting_roles_listed if {
	d := portcullis.decision with input as notes_call(subject(["analyst", "engineer", "pii-reader"]), "read_note")
	d.reasons == ["read_only tool notes__read_note allowed for role(s) analyst, engineer"]
}

test_untrusted_read_only_claim_needs_approval if {
	# An upstream marks a deleting tool readOnlyHint:true; the server is not trusted.
	tool := call_tool(files_server, "wipe_disk", {"annotations": {"readOnlyHint": true}})
	d := portcullis.decision with input as call_input(subject(["engineer"]), files_server, tool)
	d.outcome == "needs_approval"
}

test_approval_classes_from_data if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "create_note")
		with data.portcullis.approval as {"classes": ["write"], "approvers": ["leads"], "timeout_seconds": 60}
	d.outcome == "needs_approval"
	d.approval == {"approvers": ["leads"], "timeout_seconds": 60}
	d.reasons == ["write tool notes__create_note requires approval by leads"]
}

# --- analyst ----------------------------------------------------------------

test_analyst_read_note_allowed if {
	portcullis.decision == allow("read_only tool notes__read_note allowed for role(s) analyst", full_redact) with input as notes_call(subject(["analyst"]), "read_note")
}

test_analyst_listed_files_tools_allowed if {
	every name in ["list_files", "read_file"] {
		d := portcullis.decision with input as files_call(subject(["analyst"]), name)
		d.outcome == "allow"
	}
}

test_analyst_create_note_denied if {
	portcullis.decision == {
		"outcome": "deny",
		"reasons": ["role(s) analyst may not call write tool notes__create_note"],
	} with input as notes_call(subject(["analyst"]), "create_note")
}

test_analyst_delete_note_denied if {
	portcullis.decision == {
		"outcome": "deny",
		"reasons": ["role(s) analyst may not call destructive tool notes__delete_note"],
	} with input as notes_call(subject(["analyst"]), "delete_note")
}

test_analyst_untrusted_read_only_claim_denied if {
	tool := call_tool(files_server, "wipe_disk", {"annotations": {"readOnlyHint": true}})
	d := portcullis.decision with input as call_input(subject(["analyst"]), files_server, tool)
	d == {"outcome": "deny", "reasons": ["role(s) analyst may not call destructive tool files__wipe_disk"]}
}

# --- anonymous, unknown and missing roles ---------------------------------

test_anonymous_read_allowed if {
	portcullis.decision == allow("read_only tool notes__search_notes allowed for role(s) analyst", full_redact) with input as notes_call(anonymous, "search_notes")
}

test_anonymous_claimed_admin_denied_write if {
	subj := object.union(anonymous, {"roles": ["admin"]})
	d := portcullis.decision with input as files_call(subj, "write_file")
	d == {"outcome": "deny", "reasons": ["role(s) analyst may not call write tool files__write_file"]}
}

test_unknown_role_denied if {
	portcullis.decision == {
		"outcome": "deny",
		"reasons": ["no role of this subject grants access to any tool"],
	} with input as notes_call(subject(["intern"]), "read_note")
}

test_pii_reader_alone_denied if {
	d := portcullis.decision with input as notes_call(subject(["pii-reader"]), "read_note")
	d.outcome == "deny"
}

test_missing_subject_denied if {
	inp := object.remove(notes_call(subject([]), "read_note"), ["subject"])
	d := portcullis.decision with input as inp
	d == {"outcome": "deny", "reasons": ["no role of this subject grants access to any tool"]}
}

# --- fail closed ------------------------------------------------------------

test_wrong_action_denied if {
	inp := object.union(notes_call(subject(["admin"]), "read_note"), {"action": "tools/list"})
	portcullis.decision == {
		"outcome": "deny",
		"reasons": ["unsupported action for decision: tools/list"],
	} with input as inp
}

test_reasons_accumulate_sorted if {
	inp := object.union(notes_call(subject([]), "read_note"), {"action": "sampling/createMessage"})
	d := portcullis.decision with input as inp
	d.reasons == [
		"no role of this subject grants access to any tool",
		"unsupported action for decision: sampling/createMessage",
	]
}

test_list_and_completion_actions_are_not_decided if {
	every action in ["tools/list", "prompts/list", "resources/list", "resources/templates/list", "completion/complete"] {
		inp := object.union(notes_call(subject(["admin"]), "read_note"), {"action": action})
		d := portcullis.decision with input as inp
		d == {"outcome": "deny", "reasons": [concat("", ["unsupported action for decision: ", action])]}
	}
}

test_missing_action_denied if {
	inp := object.remove(notes_call(subject(["admin"]), "read_note"), ["action"])
	d := portcullis.decision with input as inp
	d == {"outcome": "deny", "reasons": ["no policy rule allowed this call"]}
}

test_missing_tool_default_deny if {
	inp := object.remove(notes_call(subject(["admin"]), "read_note"), ["tool"])
	portcullis.decision == {"outcome": "deny", "reasons": ["no policy rule allowed this call"]} with input as inp
}

test_empty_input_denied if {
	d := portcullis.decision with input as {}
	d.outcome == "deny"
}

test_extra_deny_reason_vetoes_allowed_call if {
	# A rule added to deny_reasons overrides an otherwise allowed call.
	d := portcullis.decision with input as notes_call(subject(["admin"]), "read_note")
		with portcullis.deny_reasons as {"maintenance window"}
	d == {"outcome": "deny", "reasons": ["maintenance window"]}
}

# --- downstream credential profile ------------------------------------------

creds := {"notes": {"read_only": "notes-ro", "destructive": "notes-admin"}}

test_no_credential_by_default if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "read_note")
	not "credential" in object.keys(d)
}

test_credential_on_allow if {
	d := portcullis.decision with input as notes_call(subject(["analyst"]), "read_note")
		with data.portcullis.credentials as creds
	d.outcome == "allow"
	d.credential == "notes-ro"
}

test_credential_on_approval if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "delete_note")
		with data.portcullis.credentials as creds
	d.outcome == "needs_approval"
	d.credential == "notes-admin"
}

test_credential_absent_for_unlisted_class if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "create_note")
		with data.portcullis.credentials as creds
	d.outcome == "allow"
	not "credential" in object.keys(d)
}

test_credential_never_on_deny if {
	d := portcullis.decision with input as notes_call(subject(["analyst"]), "delete_note")
		with data.portcullis.credentials as creds
	not "credential" in object.keys(d)
}
