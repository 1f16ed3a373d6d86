"""M4: ratings posted to /v1/feedback drive the advisor's replies (agents/advisor.hy):
`on-feedback` joins each rating to the style that wrote the rated reply, and the agent
answers in the best-rated style from then on — durably, across a restart, and, with a
model, by changing the model's instruction."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.llm.fakes import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
ADVISOR = ROOT / "agents" / "advisor.hy"
BRIEF = "Boil fresh water, then steep the leaves for three minutes."
STEPS = "1. Boil fresh water. 2. Steep the leaves for three minutes. 3. Pour through a strainer."
EXAMPLE = "For example, for tea today: boil fresh water; steep the leaves for three minutes; pour through a strainer."


class Served:
    def __init__(self, tmp_path: Path, *grants: str) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("O_", "OPENAI_"))}
        env["PYTHONPATH"] = str(ROOT)
        arguments = [a for grant in grants for a in ("--grant", grant)]
        self.process = subprocess.Popen([sys.executable, "-m", "o_lisp.cli", "serve", str(ADVISOR), "--port", "0",
                                         "--data", "data", *arguments], stderr=subprocess.PIPE, text=True, env=env,
                                        cwd=tmp_path)
        assert self.process.stderr is not None
        seen = [self.process.stderr.readline()]
        while "o-lisp: serving" not in seen[-1] and seen[-1] and len(seen) < 200:
            seen.append(self.process.stderr.readline())
        if "o-lisp: serving" not in seen[-1]:
            self.stop()
            raise AssertionError("".join(seen))
        self.url = seen[-1].split(" on ", 1)[1].split(" ", 1)[0].rstrip(",")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def ask_and_rate(self, text: str, rating: float) -> str:
        answer = self.post("/v1/messages", {"text": text})
        self.post("/v1/feedback", {"reply_id": answer["reply_id"], "rating": rating})
        return str(answer["reply"])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()


def test_ratings_steer_the_advisor_to_the_style_users_like(tmp_path: Path) -> None:
    served = Served(tmp_path)
    try:
        assert served.ask_and_rate("how do I make tea?", -1) == BRIEF  # each style is tried once ...
        assert served.ask_and_rate("how do I make tea?", 1) == STEPS
        assert served.ask_and_rate("how do I make tea?", -0.5) == EXAMPLE
        assert served.post("/v1/messages", {"text": "how do I make tea?"})["reply"] == STEPS  # ... then the best
        assert served.post("/v1/messages", {"text": "how do I bake bread?"})["reply"].startswith("1. Mix flour")
    finally:
        served.stop()
    again = Served(tmp_path)  # the scores are agent state: a restart keeps what was learned
    try:
        for mean in ("0", "-1/3", "-1/2 (a tie with example: the earlier style stays)", "-3/5"):
            assert again.ask_and_rate("how do I make tea?", -1) == STEPS, f"steps rated {mean} after this"
        assert again.post("/v1/messages", {"text": "how do I make tea?"})["reply"] == EXAMPLE  # -0.5 is best now
    finally:
        again.stop()


def test_with_a_model_the_ratings_choose_its_instruction(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    try:
        (tmp_path / "o-lisp.toml").write_text(f'[llm.models.brain]\nprovider = "openai"\nmodel = "advisor-model"\n'
                                              f'base_url = "{fake.base_url}"\nretries = 0\n')
        served = Served(tmp_path, "llm")
        try:
            assert served.ask_and_rate("how do I make tea?", 0.2) == "You said: how do I make tea?"
            served.ask_and_rate("how do I make tea?", 0.9)
            served.ask_and_rate("how do I make tea?", -1)
            served.post("/v1/messages", {"text": "how do I make tea?"})
        finally:
            served.stop()
        systems = [request["messages"][0]["content"] for request in fake.requests]
        assert systems == ["Answer in one short sentence.", "Answer as short numbered steps.",
                           "Answer by walking through one concrete example.", "Answer as short numbered steps."]
    finally:
        fake.close()
