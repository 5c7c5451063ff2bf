"""Open /day pages as browsers hold them: python bench/day_pages_client.py ROOT CODE PAGES

Each page enters the access code, then reads /day/events as EventSource does: when a stream ends
it reconnects at once with the last message's id (Last-Event-ID). Run by bench/day_page.py in a
process of its own, so that the service's process holds only the service.
"""

import re
import sys
import threading

import requests


def page(root: str, code: str) -> None:
    session = requests.Session()
    session.post(f"{root}/day/open", data={"code": code}, timeout=30)
    mark = re.search(r'data-mark="([^"]+)"', session.get(f"{root}/day", timeout=30).text).group(1)
    while True:
        headers = {"Last-Event-ID": mark} if mark else {}
        with session.get(
            f"{root}/day/events", params={"since": mark}, headers=headers, stream=True, timeout=60
        ) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("id: "):
                    mark = line[4:]
                elif line == "event: reload":
                    mark = re.search(r'data-mark="([^"]+)"', session.get(f"{root}/day", timeout=30).text).group(1)
                    break


if __name__ == "__main__":
    root, code, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for _ in range(count):
        threading.Thread(target=page, args=(root, code), daemon=True).start()
    threading.Event().wait()
