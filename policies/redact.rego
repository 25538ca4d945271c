# What the gateway must scrub: JSON-pointer drops and regex masks.
#
# The same redact object is returned for every decision action: "arguments" are
# the tool or prompt arguments (an empty object for resources/*), "result" is
# the CallToolResult, GetPromptResult or ReadResourceResult.
#
# The gateway applies "mask" patterns as JavaScript RegExp with flag g to every
# string value; the patterns in data.json are written to be valid and to mean
# the same in Go RE2 (tested in opa-tests with regex.match) and JavaScript, and
# use bounded repetition so that they stay linear on large results.
package portcullis

redact := {
	"arguments": {
		"drop": argument_drops,
		"mask": argument_masks,
	},
	"result": {
		"drop": result_drops,
		"mask": result_masks,
	},
}

# Card numbers never go upstream, whoever the caller is: masking arguments
# protects the upstream server, not the caller's right to read.
argument_masks := [mask |
	some name in data.portcullis.pii.argument_masks
	mask := named_mask(name)
]

# E-mail addresses and card numbers are masked in results unless the subject
# holds an exempt role (pii-reader).
default result_masks := []

result_masks := [mask |
	some name in data.portcullis.pii.result_masks
	mask := named_mask(name)
] if {
	not pii_exempt
}

pii_exempt if {
	some r in subject_roles
	r in data.portcullis.pii.exempt_roles
}

named_mask(name) := {
	"name": name,
	"pattern": data.portcullis.pii.masks[name].pattern,
	"replacement": data.portcullis.pii.masks[name].replacement,
}

# JSON pointers from data.portcullis.drop.{arguments,result}[<server id>][<tool name>],
# plus the entries under the tool name "*" that apply to every tool of the server.
# Tools only: the pointers are written against tool arguments and CallToolResult,
# so prompts/get and resources/* get masks but no drops.
argument_drops := pointers_for(data.portcullis.drop.arguments)

result_drops := pointers_for(data.portcullis.drop.result)

pointers_for(table) := [p |
	some p in {q |
		input.action == "tools/call"
		some name in [input.tool.name, "*"]
		some q in table[input.server.id][name]
	}
]
