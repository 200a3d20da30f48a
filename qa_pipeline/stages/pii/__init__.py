"""Personal-data stage: find it (cards, IDs, phones, e-mails, numbers read by sound), mask it in text, cover it
in audio."""

from qa_pipeline.stages.pii.checks import RULE_VERSION, classify_digits, cn_id_valid, luhn_valid, mask_digits
from qa_pipeline.stages.pii.detect import detect_pii, findings_summary, masked_numbers
from qa_pipeline.stages.pii.email import mask_email
from qa_pipeline.stages.pii.redact import redact_audio, redact_transcript

__all__ = ["RULE_VERSION", "classify_digits", "cn_id_valid", "detect_pii", "findings_summary", "masked_numbers", "luhn_valid",
           "mask_digits", "mask_email", "redact_audio", "redact_transcript"]
