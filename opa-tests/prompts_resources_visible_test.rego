# prompts/list, resources/list, resources/templates/list: which keys each kind
# of subject sees, the single-item checks, and the dispatch on input.action.
package portcullis_test

import data.portcullis

# --- prompts ----------------------------------------------------------------

test_prompts_visible_to_every_role_with_tool_access if {
	every roles in [["admin"], ["engineer"], ["analyst"], ["analyst", "pii-reader"]] {
		portcullis.visible == all_prompt_keys with input as prompts_list(subject(roles), all_prompts)
	}
}

test_prompts_anonymous_gets_analyst if {
	portcullis.visible == all_prompt_keys with input as prompts_list(anonymous, all_prompts)
}

test_prompts_anonymous_roles_come_from_data if {
	portcullis.visible == set() with input as prompts_list(anonymous, all_prompts)
		with data.portcullis.anonymous_roles as []
}

test_prompts_hidden_without_known_role if {
	every roles in [[], ["intern"], ["pii-reader"]] {
		portcullis.visible == set() with input as prompts_list(subject(roles), all_prompts)
	}
}

test_prompts_hidden_when_roles_missing if {
	subj := object.remove(subject([]), ["roles"])
	portcullis.visible == set() with input as prompts_list(subj, all_prompts)
}

test_prompts_hidden_from_role_without_tool_classes if {
	portcullis.visible == set() with input as prompts_list(subject(["reader"]), all_prompts)
		with data.portcullis.roles as {"reader": {"tool_classes": [], "resources": "all"}}
}

test_prompt_without_server_hidden if {
	p := object.remove(list_prompt(notes_server, "summarize_note"), ["server"])
	portcullis.visible == set() with input as prompts_list(subject(["admin"]), [p])
}

test_prompt_single_item_check if {
	# Before prompts/get the gateway sends only key, name and server.
	item := {"key": "files__explain_file", "name": "explain_file", "server": files_server}
	portcullis.visible == {"files__explain_file"} with input as prompts_list(subject(["analyst"]), [item])
	portcullis.visible == set() with input as prompts_list(subject(["intern"]), [item])
}

test_no_prompts_no_keys if {
	portcullis.visible == set() with input as prompts_list(subject(["admin"]), [])
}

# --- resources --------------------------------------------------------------

test_resources_visible_to_admin_and_engineer_everywhere if {
	every roles in [["admin"], ["engineer"]] {
		portcullis.visible == all_resource_keys with input as resources_list(subject(roles), all_resources)
	}
}

test_resources_analyst_trusted_servers_only if {
	portcullis.visible == notes_resource_keys with input as resources_list(subject(["analyst"]), all_resources)
}

test_resources_analyst_listed_server if {
	portcullis.visible == all_resource_keys with input as resources_list(subject(["analyst"]), all_resources)
		with data.portcullis.analyst_resource_servers as ["files"]
}

test_resources_analyst_list_is_by_server_id if {
	portcullis.visible == notes_resource_keys with input as resources_list(subject(["analyst"]), all_resources)
		with data.portcullis.analyst_resource_servers as ["stdio", "dev", "file"]
}

test_resources_trust_label_must_be_exactly_trusted if {
	srv := {"id": "wiki", "transport": "http", "labels": {"trust": "Trusted"}}
	portcullis.visible == set() with input as resources_list(subject(["analyst"]), [list_resource(srv, "wiki://home")])
}

test_resources_roles_are_unioned if {
	portcullis.visible == all_resource_keys with input as resources_list(subject(["analyst", "engineer"]), all_resources)
}

test_resources_anonymous_as_analyst if {
	subj := object.union(anonymous, {"roles": ["admin"]})
	portcullis.visible == notes_resource_keys with input as resources_list(subj, all_resources)
}

test_resources_hidden_without_known_role if {
	every roles in [[], ["intern"], ["pii-reader"]] {
		portcullis.visible == set() with input as resources_list(subject(roles), all_resources)
	}
}

test_resources_hidden_from_role_without_scope if {
	# A role with tool access but no "resources" scope sees prompts, not resources.
	roles := {"toolsmith": {"tool_classes": ["read_only", "write"]}}
	portcullis.visible == set() with input as resources_list(subject(["toolsmith"]), all_resources)
		with data.portcullis.roles as roles
	portcullis.visible == all_prompt_keys with input as prompts_list(subject(["toolsmith"]), all_prompts)
		with data.portcullis.roles as roles
}

test_resources_unknown_scope_value_grants_nothing if {
	portcullis.visible == set() with input as resources_list(subject(["odd"]), all_resources)
		with data.portcullis.roles as {"odd": {"tool_classes": ["read_only"], "resources": "everything"}}
}

test_resources_scope_without_tool_classes if {
	# Resource access does not depend on tool access.
	portcullis.visible == all_resource_keys with input as resources_list(subject(["reader"]), all_resources)
		with data.portcullis.roles as {"reader": {"tool_classes": [], "resources": "all"}}
}

test_resource_without_server_hidden if {
	r := object.remove(list_resource(notes_server, "note://n1"), ["server"])
	portcullis.visible == set() with input as resources_list(subject(["admin"]), [r])
	portcullis.visible == set() with input as resources_list(subject(["analyst"]), [r])
}

test_resource_single_item_check if {
	# Before resources/read|subscribe|unsubscribe the gateway sends key, uri and server.
	notes_item := {"key": "notes__note://n9", "uri": "note://n9", "server": notes_server}
	files_item := {"key": "files__file:///etc/passwd", "uri": "file:///etc/passwd", "server": files_server}
	portcullis.visible == {"notes__note://n9"} with input as resources_list(subject(["analyst"]), [notes_item])
	portcullis.visible == set() with input as resources_list(subject(["analyst"]), [files_item])
	portcullis.visible == {"files__file:///etc/passwd"} with input as resources_list(subject(["engineer"]), [files_item])
}

# --- resource templates -----------------------------------------------------

test_templates_visible_to_engineer if {
	portcullis.visible == all_template_keys with input as templates_list(subject(["engineer"]), all_templates)
}

test_templates_analyst_trusted_servers_only if {
	portcullis.visible == {"notes__note://{id}"} with input as templates_list(subject(["analyst"]), all_templates)
}

test_templates_analyst_listed_server if {
	portcullis.visible == all_template_keys with input as templates_list(subject(["analyst"]), all_templates)
		with data.portcullis.analyst_resource_servers as ["files"]
}

test_templates_hidden_without_known_role if {
	portcullis.visible == set() with input as templates_list(subject(["intern"]), all_templates)
}

test_template_single_item_check if {
	# Before completion/complete on a resource ref: key, uriTemplate, uri and server.
	item := {"key": "files__file:///{path}", "uriTemplate": "file:///{path}", "uri": "file:///{path}", "server": files_server}
	portcullis.visible == set() with input as templates_list(subject(["analyst"]), [item])
	portcullis.visible == {"files__file:///{path}"} with input as templates_list(subject(["admin"]), [item])
}

# --- dispatch on input.action -----------------------------------------------

everything(action, subj) := {
	"action": action,
	"subject": subj,
	"tools": all_list_tools,
	"prompts": all_prompts,
	"resources": all_resources,
	"resource_templates": all_templates,
	"request": request,
}

test_each_action_reads_only_its_own_list if {
	portcullis.visible == all_keys with input as everything("tools/list", subject(["admin"]))
	portcullis.visible == all_prompt_keys with input as everything("prompts/list", subject(["admin"]))
	portcullis.visible == all_resource_keys with input as everything("resources/list", subject(["admin"]))
	portcullis.visible == all_template_keys with input as everything("resources/templates/list", subject(["admin"]))
}

test_mismatched_action_and_list_shows_nothing if {
	portcullis.visible == set() with input as list_input(subject(["admin"]), []) with input.prompts as all_prompts
	portcullis.visible == set() with input as items_input("prompts/list", "tools", subject(["admin"]), all_list_tools)
	portcullis.visible == set() with input as items_input("resources/list", "resource_templates", subject(["admin"]), all_templates)
	portcullis.visible == set() with input as items_input("resources/templates/list", "resources", subject(["admin"]), all_resources)
}

test_unknown_or_missing_action_shows_nothing if {
	portcullis.visible == set() with input as everything("tools/call", subject(["admin"]))
	portcullis.visible == set() with input as object.remove(everything("x", subject(["admin"])), ["action"])
}
