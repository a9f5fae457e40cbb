"""The compose stack checked from outside, through the proxy over HTTPS (make deploy-test).

    python deploy/offline/smoke.py --port 18443 --ca root.crt health
    python deploy/offline/smoke.py --port 18443 --ca root.crt chat --email E --password-env VAR

`health`: /healthz answers 200 through the proxy. `chat`: signs in with a real HTTP session (the
sign-in form, its CSRF token and cookie), asks a question over wss:// and requires a complete answer
with citations. The host name (HUMPHREY_HOSTNAME, default humphrey.localhost) is resolved to 127.0.0.1
here, and TLS is checked against the proxy's own CA (Caddy's internal one), nothing else trusted.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import websockets


def pin_host(host: str) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        return real("127.0.0.1" if name == host else name, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def health(base: str, opener, tries: int) -> None:
    for _ in range(tries):
        with opener.open(f"{base}/healthz", timeout=10) as response:
            body = json.loads(response.read())
            if response.status != 200 or body.get("status") != "ok":
                sys.exit(f"/healthz: {response.status} {body}")
    print(f"smoke: /healthz 200 x{tries} through the proxy")


def sign_in(base: str, opener, jar, email: str, password: str) -> str:
    with opener.open(f"{base}/accounts/login/", timeout=30) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not token:
        sys.exit("sign-in page has no CSRF token")
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "login": email, "password": password})
    request = urllib.request.Request(  # noqa: S310 (https only: base is built above)
        f"{base}/accounts/login/",
        data=form.encode(),
        headers={"Referer": f"{base}/accounts/login/", "Origin": base},
    )
    with opener.open(request, timeout=30) as response:
        response.read()
    cookies = {c.name: c.value for c in jar}
    if "sessionid" not in cookies:
        sys.exit("signing in set no session cookie (wrong password, or the form changed)")
    print("smoke: signed in over HTTPS")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


async def ask(base: str, context: ssl.SSLContext, cookie: str, question: str) -> dict:
    url = base.replace("https://", "wss://") + "/ws/chat/"
    started = time.monotonic()
    async with websockets.connect(url, ssl=context, origin=base, additional_headers={"Cookie": cookie}) as ws:
        await ws.send(json.dumps({"type": "ask", "conversation": None, "text": question, "collections": None}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=120))
            if frame["type"] == "error":
                sys.exit(f"chat error: {frame}")
            if frame["type"] == "done":
                frame["_seconds"] = time.monotonic() - started
                return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["health", "chat"])
    parser.add_argument("--host", default=os.environ.get("HUMPHREY_HOSTNAME", "humphrey.localhost"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True, help="the proxy's root certificate (PEM)")
    parser.add_argument("--tries", type=int, default=6)
    parser.add_argument("--email")
    parser.add_argument("--password-env", default="SMOKE_PASSWORD")
    parser.add_argument("--question", default="How do I claim travel expenses?")
    args = parser.parse_args()
    pin_host(args.host)
    context = ssl.create_default_context(cafile=args.ca)
    base = f"https://{args.host}:{args.port}"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar)
    )
    if args.what == "health":
        health(base, opener, args.tries)
        return
    try:
        cookie = sign_in(base, opener, jar, args.email, os.environ[args.password_env])
    except urllib.error.HTTPError as error:
        sys.exit(f"signing in: {error.url} answered {error.code} {error.reason}: {error.read()[:300]!r}")
    done = asyncio.run(ask(base, context, cookie, args.question))
    citations = done.get("citations") or []
    if done.get("status") != "complete" or not citations:
        sys.exit(f"chat: status {done.get('status')!r}, {len(citations)} citations: {done.get('text', '')[:300]}")
    titles = sorted({c["document_title"] for c in citations})
    print(
        f"smoke: chat answered over wss:// in {done['_seconds']:.1f} s, "
        f"{len(citations)} citations ({'; '.join(titles)})"
    )


if __name__ == "__main__":
    main()
