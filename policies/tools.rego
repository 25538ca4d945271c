# What is being touched: classify a tool as "read_only", "write" or "destructive".
#
# MCP tool annotations are hints written by the upstream server and are
# untrusted unless the server is (MCP spec, tools: "clients MUST consider tool
# annotations to be untrusted unless they come from trusted servers"). Trust
# comes from the operator-configured server label trust=trusted, or from an
# explicit per-server list in data.portcullis.read_only_tools.
package portcullis

# tool_class(tool, server) - tool: a tool object (name, annotations, ...);
# server: {id, transport, labels}.
tool_class(tool, server) := "read_only" if {
	is_read_only(tool, server)
} else := "write" if {
	# Per the MCP defaults a tool is destructive unless it says
	# destructiveHint: false. A tool that only adds (create_note, write_file)
	# is a "write" tool. This hint is honoured on any server: it only moves a
	# tool between two classes that both require a write-capable role.
	tool.annotations.destructiveHint == false
} else := "destructive"

# Read-only by a trusted server's own annotation.
is_read_only(tool, server) if {
	tool.annotations.readOnlyHint == true
	server.labels.trust == "trusted"
}

# Read-only because the security team vouched for this tool on this server.
is_read_only(tool, server) if {
	tool.name in data.portcullis.read_only_tools[server.id]
}
