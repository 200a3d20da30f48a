"""The per-call stages, each a plain function over the contracts: transcribe, diarize (mono calls), rules
(banned phrases, escalation, script steps), tone, personal data, scoring."""
