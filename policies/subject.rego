# Who is asking: the subject's roles and what they grant.
package portcullis

# Authenticated subjects bring their roles from the verified token (the
# gateway maps the configured claim to input.subject.roles). Anonymous
# subjects (auth mode "none") get data.portcullis.anonymous_roles and nothing
# they claim themselves.
subject_roles contains r if {
	not input.subject.anonymous == true
	some r in input.subject.roles
}

subject_roles contains r if {
	input.subject.anonymous == true
	some r in data.portcullis.anonymous_roles
}

# Roles that data.portcullis.roles knows about. Others (e.g. "pii-reader")
# grant no tool access on their own.
access_roles contains r if {
	some r in subject_roles
	data.portcullis.roles[r]
}

# Tool classes ("read_only", "write", "destructive") the subject may see and call.
granted_classes contains c if {
	some r in access_roles
	some c in data.portcullis.roles[r].tool_classes
}
