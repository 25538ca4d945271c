# Shared fixtures: the example upstream servers, their tools, subjects and
# input builders. Mirrors examples/ (notes over HTTP, trusted; files over
# STDIO, untrusted).
package portcullis_test

notes_server := {"id": "notes", "transport": "http", "labels": {"env": "prod", "trust": "trusted"}}

files_server := {"id": "files", "transport": "stdio", "labels": {"env": "dev"}}

notes_tools := {
	"list_notes": {"annotations": {"readOnlyHint": true}},
	"read_note": {"annotations": {"readOnlyHint": true}},
	"search_notes": {"annotations": {"readOnlyHint": true}},
	"create_note": {"annotations": {"readOnlyHint": false, "destructiveHint": false}},
	"delete_note": {"annotations": {"destructiveHint": true}},
}

files_tools := {
	"list_files": {"annotations": {"readOnlyHint": true}},
	"read_file": {"annotations": {"readOnlyHint": true}},
	"write_file": {"annotations": {"destructiveHint": false}},
	"delete_file": {"annotations": {"destructiveHint": true}},
}

# A tool as it appears in a tools/call input (no "server" member).
call_tool(server, name, spec) := {
	"key": concat("__", [server.id, name]),
	"name": name,
	"title": name,
	"description": name,
	"annotations": spec.annotations,
	"inputSchema": {"type": "object"},
}

# A tool as it appears in a tools/list input (with its "server").
list_tool(server, name, spec) := object.union(call_tool(server, name, spec), {"server": server})

all_list_tools := array.concat(
	[t | some name, spec in notes_tools; t := list_tool(notes_server, name, spec)],
	[t | some name, spec in files_tools; t := list_tool(files_server, name, spec)],
)

all_keys := {t.key | some t in all_list_tools}

read_only_keys := {
	"notes__list_notes", "notes__read_note", "notes__search_notes",
	"files__list_files", "files__read_file",
}

request := {
	"time": "2026-11-24T01:00:00.000Z",
	"session": "s-test",
	"endpoint": "/mcp",
	"protocol_version": "2025-06-18",
}

subject(roles) := {
	"anonymous": false,
	"iss": "https://idp.example",
	"sub": "alice",
	"client_id": "agent-1",
	"scopes": ["mcp"],
	"roles": roles,
	"groups": ["platform"],
	"claims": {"sub": "alice"},
}

anonymous := {"anonymous": true, "roles": [], "scopes": [], "groups": [], "claims": {}}

list_input(subj, tools) := {
	"action": "tools/list",
	"subject": subj,
	"tools": tools,
	"request": request,
}

call_input(subj, server, tool) := {
	"action": "tools/call",
	"subject": subj,
	"server": server,
	"tool": tool,
	"arguments": {"id": "n1"},
	"request": request,
}

notes_call(subj, name) := call_input(subj, notes_server, call_tool(notes_server, name, notes_tools[name]))

files_call(subj, name) := call_input(subj, files_server, call_tool(files_server, name, files_tools[name]))

card_mask := {
	"name": "card",
	"pattern": data.portcullis.pii.masks.card.pattern,
	"replacement": "[redacted:card]",
}

email_mask := {
	"name": "email",
	"pattern": data.portcullis.pii.masks.email.pattern,
	"replacement": "[redacted:email]",
}

full_redact := {
	"arguments": {"drop": [], "mask": [card_mask]},
	"result": {"drop": [], "mask": [email_mask, card_mask]},
}

pii_reader_redact := {
	"arguments": {"drop": [], "mask": [card_mask]},
	"result": {"drop": [], "mask": []},
}

approval := {"approvers": ["reviewers"], "timeout_seconds": 300}

# --- prompts, resources, resource templates ---------------------------------

# As they appear in prompts/list, resources/list and resources/templates/list
# inputs: the upstream's fields, plus the gateway's "key" and "server".
list_prompt(server, name) := {
	"key": concat("__", [server.id, name]),
	"name": name,
	"title": name,
	"description": name,
	"arguments": [{"name": "topic", "required": false}],
	"server": server,
}

list_resource(server, uri) := {
	"key": concat("__", [server.id, uri]),
	"uri": uri,
	"name": uri,
	"mimeType": "text/plain",
	"server": server,
}

list_template(server, uri_template) := {
	"key": concat("__", [server.id, uri_template]),
	"uriTemplate": uri_template,
	"name": uri_template,
	"server": server,
}

all_prompts := [
	list_prompt(notes_server, "summarize_note"),
	list_prompt(notes_server, "draft_note"),
	list_prompt(files_server, "explain_file"),
]

all_prompt_keys := {p.key | some p in all_prompts}

all_resources := [
	list_resource(notes_server, "note://n1"),
	list_resource(notes_server, "note://n2"),
	list_resource(files_server, "file:///srv/a.txt"),
]

all_resource_keys := {r.key | some r in all_resources}

notes_resource_keys := {"notes__note://n1", "notes__note://n2"}

all_templates := [
	list_template(notes_server, "note://{id}"),
	list_template(files_server, "file:///{path}"),
]

all_template_keys := {"notes__note://{id}", "files__file:///{path}"}

# input.prompts / input.resources / input.resource_templates under their action.
items_input(action, field, subj, items) := {
	"action": action,
	"subject": subj,
	field: items,
	"request": request,
}

prompts_list(subj, items) := items_input("prompts/list", "prompts", subj, items)

resources_list(subj, items) := items_input("resources/list", "resources", subj, items)

templates_list(subj, items) := items_input("resources/templates/list", "resource_templates", subj, items)

# prompts/get: the prompt as the gateway sends it (key, name, server).
prompt_get(subj, server, name, args) := {
	"action": "prompts/get",
	"subject": subj,
	"server": server,
	"prompt": {"key": concat("__", [server.id, name]), "name": name, "server": server},
	"arguments": args,
	"request": request,
}

# resources/read|subscribe|unsubscribe: the resource as the gateway sends it.
resource_op(subj, action, server, uri) := {
	"action": action,
	"subject": subj,
	"server": server,
	"resource": {"key": concat("__", [server.id, uri]), "uri": uri, "server": server},
	"arguments": {},
	"request": request,
}

resource_read(subj, server, uri) := resource_op(subj, "resources/read", server, uri)

resource_actions := ["resources/read", "resources/subscribe", "resources/unsubscribe"]
