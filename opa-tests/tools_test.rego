# Tool classification, including the annotation trust rules.
package portcullis_test

import data.portcullis

untrusted := {"id": "x", "transport": "stdio", "labels": {"trust": "untrusted"}}

test_class_trusted_read_only if {
	portcullis.tool_class({"name": "t", "annotations": {"readOnlyHint": true}}, notes_server) == "read_only"
}

test_class_read_only_beats_destructive_hint if {
	tool := {"name": "t", "annotations": {"readOnlyHint": true, "destructiveHint": true}}
	portcullis.tool_class(tool, notes_server) == "read_only"
}

test_class_untrusted_read_only_hint_is_destructive if {
	portcullis.tool_class({"name": "t", "annotations": {"readOnlyHint": true}}, untrusted) == "destructive"
}

test_class_untrusted_read_only_hint_with_non_destructive_is_write if {
	tool := {"name": "t", "annotations": {"readOnlyHint": true, "destructiveHint": false}}
	portcullis.tool_class(tool, untrusted) == "write"
}

test_class_trust_label_must_be_exactly_trusted if {
	srv := {"id": "x", "labels": {"trust": "Trusted"}}
	portcullis.tool_class({"name": "t", "annotations": {"readOnlyHint": true}}, srv) == "destructive"
}

test_class_read_only_hint_must_be_boolean_true if {
	portcullis.tool_class({"name": "t", "annotations": {"readOnlyHint": "true"}}, notes_server) == "destructive"
}

test_class_listed_tool_is_read_only if {
	portcullis.tool_class({"name": "read_file", "annotations": {}}, files_server) == "read_only"
}

test_class_listed_tool_without_annotations if {
	portcullis.tool_class({"name": "list_files"}, files_server) == "read_only"
}

test_class_write if {
	portcullis.tool_class({"name": "t", "annotations": {"readOnlyHint": false, "destructiveHint": false}}, notes_server) == "write"
}

test_class_no_annotations_is_destructive if {
	portcullis.tool_class({"name": "t"}, notes_server) == "destructive"
}

test_class_empty_annotations_is_destructive if {
	portcullis.tool_class({"name": "t", "annotations": {}}, notes_server) == "destructive"
}

test_class_read_only_false_is_destructive if {
	portcullis.tool_class({"name": "t", "annotations": {"readOnlyHint": false}}, notes_server) == "destructive"
}

test_class_examples if {
	every name, spec in notes_tools {
		want := {
			"list_notes": "read_only", "read_note": "read_only", "search_notes": "read_only",
			"create_note": "write", "delete_note": "destructive",
		}[name]
		portcullis.tool_class(call_tool(notes_server, name, spec), notes_server) == want
	}
	every name, spec in files_tools {
		want := {
			"list_files": "read_only", "read_file": "read_only",
			"write_file": "write", "delete_file": "destructive",
		}[name]
		portcullis.tool_class(call_tool(files_server, name, spec), files_server) == want
	}
}
