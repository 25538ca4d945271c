# What else is being touched: prompts, resources and resource templates.
#
# Both functions below take the server the item lives on ({id, transport,
# labels}: operator-configured, so trusted) and return the subject's roles
# that grant access there. They read nothing else about the item: the gateway's
# single-item checks (before prompts/get, resources/read|subscribe|unsubscribe
# and completion/complete) carry only key, name / uri / uriTemplate and server,
# so a rule that looked at e.g. a description would see a prompt in the list
# and hide it from prompts/get. Everything else an upstream puts in an item
# (title, description, arguments, mimeType, _meta, ...) is untrusted anyway.
package portcullis

# Prompts: every known role that grants at least one tool class, i.e. every
# role with any tool access. Roles are not scoped to servers in this policy,
# so a role with tool access has it on every server. An item without a server
# gets no role (fail closed).
prompt_roles(server) := {r |
	is_string(server.id)
	some r in access_roles
	count(data.portcullis.roles[r].tool_classes) > 0
}

# Resources and resource templates: the role's "resources" scope in
# data.portcullis.roles decides.
#   "all"      - every server;
#   "trusted"  - servers labelled trust: "trusted", and the server ids listed
#                in data.portcullis.analyst_resource_servers;
#   absent     - none.
resource_roles(server) := {r |
	some r in access_roles
	resource_scope_covers(data.portcullis.roles[r].resources, server)
}

resource_scope_covers("all", server) if is_string(server.id)

resource_scope_covers("trusted", server) if server.labels.trust == "trusted"

resource_scope_covers("trusted", server) if server.id in data.portcullis.analyst_resource_servers
