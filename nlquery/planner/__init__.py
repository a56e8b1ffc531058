"""NL -> SQL: schema linking, prompt, LLM backend, repair loop, and the offline rules planner.

* :mod:`nlquery.planner.linking`: which tables a question is about, within a token budget.
* :mod:`nlquery.planner.prompt`: the messages sent to the model.
* :mod:`nlquery.planner.llm`: the OpenAI-compatible client and reading its answer.
* :mod:`nlquery.planner.pipeline`: link -> prompt -> guard -> run, with repairs.
* :mod:`nlquery.planner.rules`: simple questions without an LLM.
"""

from nlquery.planner import examples
from nlquery.planner.answer import Answer, Attempt
from nlquery.planner.linking import LinkedSchema, SchemaLinker
from nlquery.planner.llm import LLMClient, LLMConfig, parse_candidate
from nlquery.planner.pipeline import PlanningContext, ask_llm
from nlquery.planner.rules import ask_rules

__all__ = ["Answer", "Attempt", "LLMClient", "LLMConfig", "LinkedSchema", "PlanningContext", "SchemaLinker",
           "ask_llm", "ask_rules", "examples", "parse_candidate"]
