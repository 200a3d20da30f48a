"""Rules stage: the QA lead's packs (banned phrases, escalation phrases, script steps) matched against each
speaker's words, tolerant of ASR errors."""

from qa_pipeline.stages.rules.examples import check_rule_examples, check_step_examples
from qa_pipeline.stages.rules.matcher import build_streams
from qa_pipeline.stages.rules.pack import RulePack, load_rule_pack, pack_files, read_pack_file
from qa_pipeline.stages.rules.phrases import detect_phrases
from qa_pipeline.stages.rules.script import check_script

__all__ = ["RulePack", "build_streams", "check_rule_examples", "check_script", "check_step_examples",
           "detect_phrases", "load_rule_pack", "pack_files", "read_pack_file"]
