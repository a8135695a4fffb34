"""A minimal stand-in for the `openai` package (not in Debian), for the compat harness only.

It implements the one call upstream's pipelines make, `OpenAI(...).chat.completions.create(**kw)`,
as a POST of the keyword arguments to `<base_url>/chat/completions`, and gives the JSON answer
back as attribute-style objects (`response.choices[0].message.tool_calls[0].function.name`,
`tool_call.model_dump()`), which is all the pipelines read.
"""
import json
import urllib.request


class _Obj:
    def __init__(self, data):
        self._data = data
        for key, value in data.items():
            setattr(self, key, _wrap(value))

    def model_dump(self):
        return self._data


def _wrap(value):
    if isinstance(value, dict):
        return _Obj(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class _Completions:
    def __init__(self, client):
        self._client = client

    def create(self, **kwargs):
        body = json.dumps(kwargs).encode()
        req = urllib.request.Request(
            self._client.base_url.rstrip("/") + "/chat/completions",
            data=body,
            headers={"content-type": "application/json", "authorization": "Bearer " + self._client.api_key},
        )
        with urllib.request.urlopen(req, timeout=60) as res:
            return _wrap(json.loads(res.read()))


class _Chat:
    def __init__(self, client):
        self.completions = _Completions(client)


class OpenAI:
    def __init__(self, api_key=None, base_url=None, **_ignored):
        self.api_key = api_key or ""
        self.base_url = base_url or ""
        self.chat = _Chat(self)


class AsyncOpenAI(OpenAI):
    pass
