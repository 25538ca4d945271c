# Redaction: masks per role, drops from data, and the mask patterns themselves.
package portcullis_test

import data.portcullis

test_masks_for_everyone_without_pii_reader if {
	every roles in [["admin"], ["engineer"], ["analyst"]] {
		d := portcullis.decision with input as notes_call(subject(roles), "read_note")
		d.redact == full_redact
	}
}

test_anonymous_is_masked if {
	d := portcullis.decision with input as notes_call(anonymous, "read_note")
	d.redact == full_redact
}

test_anonymous_cannot_claim_pii_reader if {
	subj := object.union(anonymous, {"roles": ["pii-reader"]})
	d := portcullis.decision with input as notes_call(subj, "read_note")
	d.redact == full_redact
}

test_pii_reader_results_unmasked_arguments_masked if {
	d := portcullis.decision with input as notes_call(subject(["engineer", "pii-reader"]), "read_note")
	d.outcome == "allow"
	d.redact == pii_reader_redact
}

test_pii_reader_on_approval if {
	d := portcullis.decision with input as notes_call(subject(["admin", "pii-reader"]), "delete_note")
	d.outcome == "needs_approval"
	d.redact == pii_reader_redact
}

test_mask_order_follows_data if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "read_note")
	[m.name | some m in d.redact.result.mask] == ["email", "card"]
	[m.name | some m in d.redact.arguments.mask] == ["card"]
}

drops := {
	"arguments": {"files": {"write_file": ["/content"]}},
	"result": {"notes": {
		"*": ["/structuredContent/owner_email", "/_meta"],
		"read_note": ["/structuredContent/secret", "/_meta"],
	}},
}

test_no_drops_by_default if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "read_note")
	d.redact.arguments.drop == []
	d.redact.result.drop == []
}

test_drops_per_tool_and_wildcard_deduplicated if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "read_note")
		with data.portcullis.drop as drops
	d.redact.result.drop == ["/_meta", "/structuredContent/owner_email", "/structuredContent/secret"]
	d.redact.arguments.drop == []
}

test_wildcard_drops_only if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "list_notes")
		with data.portcullis.drop as drops
	d.redact.result.drop == ["/_meta", "/structuredContent/owner_email"]
}

test_argument_drops if {
	d := portcullis.decision with input as files_call(subject(["engineer"]), "write_file")
		with data.portcullis.drop as drops
	d.redact.arguments.drop == ["/content"]
	d.redact.result.drop == []
}

test_pii_exempt_roles_from_data if {
	d := portcullis.decision with input as notes_call(subject(["engineer"]), "read_note")
		with data.portcullis.pii.exempt_roles as ["engineer"]
	d.redact.result.mask == []
}

# The patterns are checked here with Go RE2 (regex.match); the gateway applies
# them with JavaScript RegExp. Both engines must accept and agree on them.

card_pattern := data.portcullis.pii.masks.card.pattern

email_pattern := data.portcullis.pii.masks.email.pattern

test_card_pattern_matches if {
	every s in [
		"4111111111111111",
		"card 4111 1111 1111 1111 exp 12/30",
		"4111-1111-1111-1111",
		"5500 0000 0000 0004",
		"378282246310005", # 15-digit Amex
		"4222222222222", # 13 digits
		"6011 0009 9013 9424 123", # 19 digits
	] {
		regex.match(card_pattern, s)
	}
}

test_card_pattern_ignores_short_and_long_numbers if {
	every s in [
		"order 12345",
		"call 555-123-4567",
		"2026-11-24",
		"411111111111", # 12 digits
		"41111111111111111111", # 20 digits
		"4111--1111-1111-1111", # double separator splits the run
	] {
		not regex.match(card_pattern, s)
	}
}

test_email_pattern_matches if {
	every s in [
		"alice@example.com",
		"contact: first.last+tag@mail.sub.example.co.uk.",
		"x_y%z@a-b.io",
		"_svc@example.org",
		"(mail:-bob@example.com)",
	] {
		regex.match(email_pattern, s)
	}
}

test_email_pattern_ignores_non_addresses if {
	every s in ["alice at example dot com", "@handle", "user@localhost", "a@b.c"] {
		not regex.match(email_pattern, s)
	}
}

test_patterns_are_valid_re2 if {
	every m in data.portcullis.pii.masks {
		regex.is_valid(m.pattern)
	}
}
