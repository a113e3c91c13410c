"""What an OpenAI-client user does against a server, with the official `openai` package.

    python openai_client_check.py BASE_URL MODEL ADAPTER API_KEY

Prints one JSON object: what each call returned. The caller (VllmDifferentialE2E) runs it against
vLLM and against the project's server and checks both the same way.
"""
import json
import sys

import openai

base_url, model, adapter, api_key = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)
out = {}

out["models"] = sorted(m.id for m in client.models.list().data)

plain = client.completions.create(
    model=adapter, prompt="one two three four", max_tokens=8, temperature=0, logprobs=2
)
out["completion"] = plain.choices[0].text
out["completion_tokens"] = plain.usage.completion_tokens
out["completion_logprobs"] = len(plain.choices[0].logprobs.token_logprobs)
out["completion_finish"] = plain.choices[0].finish_reason

streamed = client.completions.create(
    model=adapter,
    prompt="one two three four",
    max_tokens=8,
    temperature=0,
    stream=True,
    stream_options={"include_usage": True},
)
pieces, usage, finish = [], None, None
for chunk in streamed:
    if chunk.usage is not None:
        usage = chunk.usage.completion_tokens
    for choice in chunk.choices:
        pieces.append(choice.text)
        finish = choice.finish_reason or finish
out["completion_streamed"] = "".join(pieces)
out["completion_streamed_usage"] = usage
out["completion_streamed_finish"] = finish

messages = [{"role": "user", "content": "hello , what is the answer ?"}]
chat = client.chat.completions.create(
    model=adapter, messages=messages, max_tokens=6, temperature=0, logprobs=True, top_logprobs=2
)
out["chat"] = chat.choices[0].message.content
out["chat_role"] = chat.choices[0].message.role
out["chat_logprobs"] = [len(t.top_logprobs) for t in chat.choices[0].logprobs.content]
pieces = []
for chunk in client.chat.completions.create(
    model=adapter, messages=messages, max_tokens=6, temperature=0, stream=True
):
    for choice in chunk.choices:
        pieces.append(choice.delta.content or "")
out["chat_streamed"] = "".join(pieces)

try:
    client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
    out["missing_model"] = "answered"
except openai.NotFoundError as e:
    out["missing_model"] = e.status_code

print(json.dumps(out))
