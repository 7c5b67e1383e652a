"""Chinese text understanding for the gateway: triage, gazetteer, PII masking."""
