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
