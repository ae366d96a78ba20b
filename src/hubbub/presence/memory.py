"""Presence of one process: dictionaries. Also the local record the Redis backend keeps of
its own node's entries (to answer during an outage and to re-register after one)."""

from __future__ import annotations

from hubbub.presence.base import Gone


class MemoryPresence:
    def __init__(self) -> None:
        #: user id -> its connection ids
        self.connections: dict[str, set[str]] = {}
        #: cid -> {connection id: user id}
        self.watching: dict[str, dict[str, str]] = {}

    async def start(self, on_offline: Gone) -> None:
        return None

    async def close(self) -> None:
        return None

    async def connected(self, conn_id: str, user_id: str) -> bool:
        conns = self.connections.setdefault(user_id, set())
        conns.add(conn_id)
        return len(conns) == 1

    async def disconnected(self, conn_id: str, user_id: str) -> bool:
        conns = self.connections.get(user_id)
        if conns is None:
            return False
        conns.discard(conn_id)
        if conns:
            return False
        del self.connections[user_id]
        return True

    async def watch(self, cid: str, conn_id: str, user_id: str) -> bool:
        watchers = self.watching.setdefault(cid, {})
        first = user_id not in watchers.values()
        watchers[conn_id] = user_id
        return first

    async def unwatch(self, cid: str, conn_id: str, user_id: str) -> bool:
        watchers = self.watching.get(cid)
        if watchers is None or watchers.pop(conn_id, None) is None:
            return False
        if not watchers:
            del self.watching[cid]
            return True
        return user_id not in watchers.values()

    async def watchers(self, cid: str) -> tuple[int, list[str]]:
        watchers = self.watching.get(cid, {})
        return len(watchers), list(dict.fromkeys(watchers.values()))

    def is_online(self, user_id: str) -> bool:
        return user_id in self.connections

    async def connected_anywhere(self, user_id: str) -> bool:
        return user_id in self.connections

    def mark(self, user_id: str, online: bool) -> None:
        return None

    async def resync(self) -> None:
        return None
