# tools/list: which tool keys each kind of subject sees.
package portcullis_test

import data.portcullis

test_engineer_sees_all if {
	portcullis.visible == all_keys with input as list_input(subject(["engineer"]), all_list_tools)
}

test_admin_sees_all if {
	portcullis.visible == all_keys with input as list_input(subject(["admin"]), all_list_tools)
}

test_analyst_sees_read_only_only if {
	portcullis.visible == read_only_keys with input as list_input(subject(["analyst"]), all_list_tools)
}

test_analyst_does_not_see_writes_or_deletes if {
	v := portcullis.visible with input as list_input(subject(["analyst"]), all_list_tools)
	not "notes__create_note" in v
	not "notes__delete_note" in v
	not "files__write_file" in v
	not "files__delete_file" in v
}

test_roles_are_unioned if {
	portcullis.visible == all_keys with input as list_input(subject(["analyst", "engineer"]), all_list_tools)
}

test_anonymous_gets_anonymous_roles if {
	portcullis.visible == read_only_keys with input as list_input(anonymous, all_list_tools)
}

test_anonymous_cannot_claim_roles if {
	subj := object.union(anonymous, {"roles": ["admin"]})
	portcullis.visible == read_only_keys with input as list_input(subj, all_list_tools)
}

test_anonymous_roles_come_from_data if {
	portcullis.visible == set() with input as list_input(anonymous, all_list_tools)
		with data.portcullis.anonymous_roles as []
}

test_unknown_role_sees_nothing if {
	portcullis.visible == set() with input as list_input(subject(["intern"]), all_list_tools)
}

test_no_roles_sees_nothing if {
	portcullis.visible == set() with input as list_input(subject([]), all_list_tools)
}

test_missing_roles_field_sees_nothing if {
	subj := object.remove(subject([]), ["roles"])
	portcullis.visible == set() with input as list_input(subj, all_list_tools)
}

test_pii_reader_alone_sees_nothing if {
	portcullis.visible == set() with input as list_input(subject(["pii-reader"]), all_list_tools)
}

test_pii_reader_with_analyst_sees_read_only if {
	portcullis.visible == read_only_keys with input as list_input(subject(["analyst", "pii-reader"]), all_list_tools)
}

test_no_tools_no_keys if {
	portcullis.visible == set() with input as list_input(subject(["admin"]), [])
}

# Trust: an untrusted server's readOnlyHint alone does not make a tool read-only.
test_untrusted_read_only_hint_hidden_from_analyst if {
	sneaky := list_tool(files_server, "wipe_disk", {"annotations": {"readOnlyHint": true}})
	portcullis.visible == set() with input as list_input(subject(["analyst"]), [sneaky])
}

test_untrusted_read_only_hint_visible_to_engineer if {
	sneaky := list_tool(files_server, "wipe_disk", {"annotations": {"readOnlyHint": true}})
	portcullis.visible == {"files__wipe_disk"} with input as list_input(subject(["engineer"]), [sneaky])
}

test_listed_tools_without_trust_label_are_read_only if {
	portcullis.visible == {"files__list_files", "files__read_file"} with input as list_input(
		subject(["analyst"]),
		[t | some t in all_list_tools; t.server.id == "files"],
	)
}

test_read_only_list_is_per_server if {
	# "read_file" is vouched for on "files" only, not on another untrusted server.
	other := {"id": "other", "transport": "stdio", "labels": {}}
	t := list_tool(other, "read_file", {"annotations": {"readOnlyHint": true}})
	portcullis.visible == set() with input as list_input(subject(["analyst"]), [t])
}

test_tool_without_server_is_not_read_only if {
	t := object.remove(list_tool(notes_server, "read_note", notes_tools.read_note), ["server"])
	portcullis.visible == set() with input as list_input(subject(["analyst"]), [t])
}

test_roles_come_from_data if {
	portcullis.visible == {"notes__create_note", "files__write_file"} with input as list_input(subject(["writer"]), all_list_tools)
		with data.portcullis.roles as {"writer": {"tool_classes": ["write"]}}
}
