"""The auditor's side: run the compliance suite, apply waivers, write the reports."""
