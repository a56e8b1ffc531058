"""Chat completions against any OpenAI-compatible endpoint, and reading the answer.

Configuration: ``NLQUERY_LLM_BASE_URL``, ``NLQUERY_LLM_MODEL``, ``NLQUERY_LLM_API_KEY``
(falls back to ``OPENAI_API_KEY``), or per Engine. The ``openai`` client retries 429
and 5xx with exponential backoff; anything still failing is ``llm_unavailable`` with
the reason.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from nlquery.errors import LLMUnavailable


@dataclass
class LLMConfig:
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    max_retries: int = 2
    temperature: float = 0.0

    @classmethod
    def from_environment(cls, **overrides: Any) -> LLMConfig:
        values = {
            "base_url": os.environ.get("NLQUERY_LLM_BASE_URL"),
            "model": os.environ.get("NLQUERY_LLM_MODEL"),
            "api_key": os.environ.get("NLQUERY_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY"),
            # the whole call, retries included
            "timeout_s": float(os.environ["NLQUERY_LLM_TIMEOUT_S"]) if os.environ.get("NLQUERY_LLM_TIMEOUT_S") else None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        # unset means the default (a None timeout would break every call)
        return cls(**{k: v for k, v in values.items() if v is not None or k != "timeout_s"})

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)


NOT_CONFIGURED = ("no LLM is configured: set NLQUERY_LLM_BASE_URL (any OpenAI-compatible endpoint, e.g. "
                  "http://127.0.0.1:8080/v1) and NLQUERY_LLM_MODEL, and NLQUERY_LLM_API_KEY if the endpoint "
                  "needs a key (OPENAI_API_KEY alone uses OpenAI); without an LLM the rules planner answers "
                  "simple questions offline")


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


class LLMClient:
    """One chat completion per call, deterministic settings (temperature 0)."""

    def __init__(self, config: LLMConfig) -> None:
        if not config.configured:  # else the client would try api.openai.com without a key
            raise LLMUnavailable(NOT_CONFIGURED)
        try:
            import openai
        except ImportError:
            raise LLMUnavailable("the LLM planner needs the openai package: pip install 'nlquery[llm]'") from None
        self._openai = openai
        self.config = config
        # Retries are ours (see complete): the client's own would give each attempt the
        # whole timeout, so a stalled endpoint would hold a caller (max_retries + 1) times it.
        self._client = openai.OpenAI(
            base_url=config.base_url, api_key=config.api_key or "not-needed",
            timeout=config.timeout_s, max_retries=0,
        )

    def complete(self, messages: list[dict[str, str]], *, temperature: float | None = None,
                 seed: int = 0) -> Completion:
        """One completion; ``temperature`` overrides the configured one (a sampled re-ask)."""
        openai = self._openai
        started = time.perf_counter()
        # ``timeout_s`` bounds the whole call, retries included: 429, 5xx and connection
        # errors are retried (max_retries times, short back-off) while time is left.
        deadline = time.monotonic() + self.config.timeout_s
        too_late = f"the LLM did not answer within {self.config.timeout_s:g} s"
        attempt = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0.01:
                raise LLMUnavailable(too_late)
            try:
                response = self._client.chat.completions.create(
                    model=self.config.model or "default", messages=messages,  # type: ignore[arg-type]
                    temperature=self.config.temperature if temperature is None else temperature,
                    seed=seed, timeout=left,
                )
                break
            except openai.APITimeoutError:
                raise LLMUnavailable(too_late) from None
            except openai.APIConnectionError as exc:
                failure = LLMUnavailable(f"cannot reach the LLM at {self.config.base_url or 'the default endpoint'}: "
                                         f"{exc.__cause__ or exc}")
            except openai.APIStatusError as exc:
                failure = LLMUnavailable(f"the LLM answered HTTP {exc.status_code}: {_short(exc.message)}")
                if exc.status_code not in (408, 409, 429) and exc.status_code < 500:
                    raise failure from None
            except (openai.APIError, ValueError) as exc:  # an answer that is not a completion
                raise LLMUnavailable(f"the LLM answered something that is not a completion: "
                                     f"{_short(str(exc))}") from None
            attempt += 1
            pause = min(0.25 * 2 ** (attempt - 1), deadline - time.monotonic() - 0.05)
            if attempt > self.config.max_retries or pause < 0:
                raise failure from None
            time.sleep(pause)
        latency = (time.perf_counter() - started) * 1000
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise LLMUnavailable("the LLM returned no message") from None
        usage = getattr(response, "usage", None)
        return Completion(text, getattr(usage, "prompt_tokens", 0) or 0,
                          getattr(usage, "completion_tokens", 0) or 0, latency)


def _short(text: str) -> str:
    return text if len(text) < 200 else text[:200] + "..."


@dataclass
class Candidate:
    sql: str
    parameters: list[Any]
    explanation: str


_FENCE = re.compile(r"```(?:json|sql)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_candidate(text: str) -> Candidate | None:
    """The model's answer: JSON ``{"sql", "parameters", "explanation"}``, possibly fenced;
    a bare or fenced SQL statement is accepted too. None when there is no SQL."""
    blocks = [m.group(1).strip() for m in _FENCE.finditer(text)] + [text.strip()]
    for block in blocks:
        start, end = block.find("{"), block.rfind("}")
        if start != -1 and end > start:
            try:
                data = json.loads(block[start:end + 1])
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("sql"), str) and data["sql"].strip():
                parameters = data.get("parameters") or []
                if not isinstance(parameters, list):
                    parameters = [parameters]
                return Candidate(data["sql"].strip().rstrip(";"), parameters, str(data.get("explanation") or ""))
    for block in blocks:
        if re.match(r"(?is)^\s*(select|with)\b", block):
            return Candidate(block.strip().rstrip(";"), [], "")
    return None
