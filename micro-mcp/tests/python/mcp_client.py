"""Drives `micro mcp serve` with the official MCP Python SDK (`mcp` on PyPI).

    mcp_client.py stdio [OPTIONS] -- COMMAND ARGS...   spawns the server
    mcp_client.py http URL TOKEN [OPTIONS]             connects to it
    mcp_client.py slow URL TOKEN                       one call, for the drain test

OPTIONS: --list-changed, --expected DIR.

Initializes, lists the tools and checks the greeter's Hello tool (its input
schema has `name`, a string), calls it with {"name": "John"} (-> "Hello John")
and with {"name": 5} (-> an error result, not a protocol error), calls the
streaming tools (HelloStream, and Collect and Chat with {"messages": [...]}).
With --expected DIR, every tool DIR/tools.json names has exactly the
inputSchema and outputSchema of the files it names there. With
--list-changed it then prints `WAITING_FOR_SECOND`, waits for
`notifications/tools/list_changed` (the caller starts com.example.srv.other)
and sees the new service's tools. Over HTTP, a request without the token
must be refused (401). Prints `OK` at the end; any failed check exits 1.

`slow` calls Hello once (the caller stops the server meanwhile) and prints
`ANSWER <text>` as soon as the answer is in.
"""

import json
import os
import sys
import urllib.error
import urllib.request

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

HELLO = "com_example_srv_greeter_Greeter_Hello"
COLLECT = "com_example_srv_greeter_Greeter_Collect"
CHAT = "com_example_srv_greeter_Greeter_Chat"
OTHER = "com_example_srv_other_Greeter_Hello"
LIMIT = 30


def check(condition, what):
    if not condition:
        print(f"check failed: {what}", file=sys.stderr, flush=True)
        sys.exit(1)


def text_of(result):
    return "\n".join(getattr(block, "text", "") for block in result.content)


def check_expected(tools, directory):
    with open(os.path.join(directory, "tools.json")) as f:
        index = json.load(f)
    by_name = {t.name: t for t in tools}
    for name, files in index.items():
        check(name in by_name, f"{name} is listed")
        tool = by_name[name]
        for key, actual in (("inputSchema", tool.input_schema), ("outputSchema", tool.output_schema)):
            with open(os.path.join(directory, files[key])) as f:
                expected = json.load(f)
            check(actual == expected, f"{name} {key} is {files[key]}; it is {json.dumps(actual, indent=2)}")
    print(f"schemas as expected: {len(index)} tools", flush=True)


async def exercise(read, write, list_changed, expected):
    changed = anyio.Event()

    async def on_message(message):
        method = getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)
        if method == "notifications/tools/list_changed":
            changed.set()

    async with ClientSession(read, write, message_handler=on_message) as session:
        with anyio.fail_after(LIMIT):
            info = await session.initialize()
        print(f"initialized: {info.server_info.name} protocol {info.protocol_version}", flush=True)

        tools = (await session.list_tools()).tools
        names = [t.name for t in tools]
        check(HELLO in names, f"{HELLO} in {names}")
        hello = next(t for t in tools if t.name == HELLO)
        schema = hello.input_schema
        check(schema.get("type") == "object", f"inputSchema is an object: {schema}")
        check(schema["properties"]["name"]["type"] == "string", f"name is a string: {schema}")
        check(hello.output_schema["properties"]["greeting"]["type"] == "string", f"outputSchema: {hello.output_schema}")
        check(hello.annotations is not None and hello.annotations.idempotent_hint is True, f"idempotent: {hello.annotations}")
        check(not any(n.split("_")[-2:-1] == ["Debug"] for n in names), f"no Debug tools: {names}")
        if expected:
            check_expected(tools, expected)

        ok = await session.call_tool(HELLO, {"name": "John"})
        check(not ok.is_error, f"Hello John succeeds: {ok}")
        check("Hello John" in text_of(ok), f"text has Hello John: {ok}")
        check(ok.structured_content == {"greeting": "Hello John"}, f"structured: {ok.structured_content}")
        print("called Hello: Hello John", flush=True)

        streamed = await session.call_tool(HELLO + "Stream", {"name": "Ann"})
        check(not streamed.is_error, f"HelloStream succeeds: {streamed}")
        greetings = [item["greeting"] for item in streamed.structured_content["items"]]
        check(greetings == ["Hello Ann #1", "Hello Ann #2", "Hello Ann #3"], f"stream items: {greetings}")
        check(streamed.structured_content["truncated"] is False, "the stream was not cut")
        print("called HelloStream: 3 items", flush=True)

        collected = await session.call_tool(COLLECT, {"messages": [{"name": "A"}, {"name": "B"}]})
        check(collected.structured_content == {"greeting": "Hello A, B"}, f"Collect: {collected}")
        chat = await session.call_tool(CHAT, {"messages": [{"name": "A"}, {"name": "B"}]})
        check(chat.structured_content == {"items": [{"greeting": "Hello A"}, {"greeting": "Hello B"}], "truncated": False}, f"Chat: {chat}")
        print("called Collect and Chat", flush=True)

        wrong = await session.call_tool(HELLO, {"name": 5})
        check(wrong.is_error, f"a wrong type is an error result: {wrong}")
        check("(400)" in text_of(wrong), f"the error has its code: {text_of(wrong)}")
        print(f"wrong type: {text_of(wrong)}", flush=True)

        if list_changed:
            check(OTHER not in names, f"{OTHER} not yet listed")
            print("WAITING_FOR_SECOND", flush=True)
            with anyio.fail_after(LIMIT):
                await changed.wait()
            print("tools/list_changed received", flush=True)
            with anyio.fail_after(LIMIT):
                while True:
                    names = [t.name for t in (await session.list_tools()).tools]
                    if OTHER in names:
                        break
                    # The notification came before the list was made anew.
                    await anyio.sleep(0.1)
            print(f"new tool listed: {OTHER}", flush=True)


async def over_stdio(command, list_changed, expected):
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        await exercise(read, write, list_changed, expected)


def refused_without_token(url):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
    )
    try:
        with urllib.request.urlopen(request, timeout=LIMIT) as answer:
            return answer.status == 401
    except urllib.error.HTTPError as err:
        return err.code == 401


async def over_http(url, token, list_changed, expected):
    headers = {}
    if token:
        check(refused_without_token(url), "a request without the token is refused with 401")
        print("no token: 401", flush=True)
        headers["Authorization"] = f"Bearer {token}"
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            await exercise(read, write, list_changed, expected)


async def slow_call(url, token):
    headers = {"Authorization": f"Bearer {token}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                with anyio.fail_after(LIMIT):
                    await session.initialize()
                    # Listed first: the SDK lists the tools after a call
                    # otherwise (to check the result), when the server is gone.
                    await session.list_tools()
                    result = await session.call_tool(HELLO, {"name": "John"})
                print(f"ANSWER {text_of(result)}", flush=True)
                check(not result.is_error, f"the call finished: {result}")
                # The server is gone now: leaving the session may fail.
                os._exit(0)


def main():
    args = sys.argv[1:]
    command = []
    if "--" in args:
        command = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    list_changed = "--list-changed" in args
    args = [a for a in args if a != "--list-changed"]
    expected = None
    if "--expected" in args:
        at = args.index("--expected")
        expected = args[at + 1]
        del args[at:at + 2]
    if args[0] == "stdio":
        anyio.run(over_stdio, command, list_changed, expected)
    elif args[0] == "http":
        anyio.run(over_http, args[1], args[2], list_changed, expected)
    elif args[0] == "slow":
        anyio.run(slow_call, args[1], args[2])
    else:
        sys.exit(f"unknown mode {args[0]}")
    print("OK", flush=True)


if __name__ == "__main__":
    main()
