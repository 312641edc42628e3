"""A team of 50 behind one workspace limit, simulated: `python -m benchmarks --simulate-team`.

Deterministic and quick: no servers, no sockets, one simulated clock. Each client is the real
``Governor`` (the server's pacing) on that clock; what it does not decide is modelled: typists
ask for completions at their own rates (Poisson, 3 to 12 requests a minute after the editor's
debounce by default; ``--rates`` sets another range), join and leave over the run, and each
request of the full budget would send ``FULL_PROMPT`` tokens. The workspace is one sliding
window of ``window_s`` over all clients: prompt tokens and the request are counted when a
request arrives (429 beyond the limit), the completion's tokens when it ends; each answer
carries the ``x-ratelimit-*`` headers as they stood at its arrival, read by the client only when
the answer ends (a realistic delay).

Reported: the limit's utilisation while the demand exceeds it, Jain's fairness index of the
tokens served among the clients active through a whole window, the least served of them against
the median, the 429s after a client's warm-up (its first answer with headers), and how long a
newcomer takes to reach its share.
"""

from __future__ import annotations

import bisect
import collections
import heapq
import random
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from codestral_lsp.governor import Governor, Limits

FULL_PROMPT = 1_550  # tokens of a default request (contextTokens 2048, a typical file)
FULL_BUDGET = 2_048  # contextTokens: what plan() scales
MAX_TOKENS = 256
NET_S = 0.03  # client to proxy
FIRST_TOKEN_S, TOKEN_S = 0.15, 0.005


@dataclass(frozen=True)
class TeamOptions:
    clients: int = 50
    seconds: float = 900.0
    window_s: float = 60.0
    tpm: int = 60_000
    rpm: int = 500
    seed: int = 7
    rates: tuple[float, float] = (3.0, 12.0)  # each typist's requests a minute, drawn in this range


@dataclass
class Client:
    name: int
    joins: float
    leaves: float
    per_minute: float  # requests a minute while typing
    governor: Governor
    warm: bool = False  # has read the limit's headers
    served: list[tuple[float, int]] = field(default_factory=list)  # (time, tokens)
    refused: int = 0
    refused_warm: int = 0
    skipped: int = 0
    sent: int = 0
    first_ask: float | None = None  # its first request: from then on it is in the workspace
    at_share: tuple[float, float] | None = None  # when it first planned like the others, ratio


class Workspace:
    """One sliding window of requests and tokens shared by every client."""

    def __init__(self, options: TeamOptions) -> None:
        self.options = options
        self.charges: collections.deque[tuple[float, int, int]] = collections.deque()
        self.tokens = 0
        self.requests = 0
        self.history: list[tuple[float, int]] = []  # every charge, for utilisation

    def _expire(self, now: float) -> None:
        while self.charges and self.charges[0][0] <= now - self.options.window_s:
            _, tokens, requests = self.charges.popleft()
            self.tokens -= tokens
            self.requests -= requests

    def charge(self, now: float, tokens: int, requests: int) -> None:
        self._expire(now)
        self.charges.append((now, tokens, requests))
        self.tokens += tokens
        self.requests += requests
        self.history.append((now, tokens))

    def arrive(self, now: float, prompt: int) -> bool:
        """Admit a request and count its prompt, or refuse it (429)."""
        self._expire(now)
        if self.requests + 1 > self.options.rpm or self.tokens + prompt > self.options.tpm:
            return False
        self.charge(now, prompt, 1)
        return True

    def headers(self, now: float) -> dict[str, str]:
        self._expire(now)
        o = self.options
        return {
            "x-ratelimit-limit-tokens-minute": str(o.tpm),
            "x-ratelimit-remaining-tokens-minute": str(max(0, o.tpm - self.tokens)),
            "x-ratelimit-limit-req-minute": str(o.rpm),
            "x-ratelimit-remaining-req-minute": str(max(0, o.rpm - self.requests)),
        }


class Simulation:
    def __init__(self, options: TeamOptions) -> None:
        self.options = options
        self.now = 0.0
        self.rng = random.Random(options.seed)
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.order = 0
        self.workspace = Workspace(options)
        self.clients = [self._client(i) for i in range(options.clients)]

    def _client(self, i: int) -> Client:
        o, rng = self.options, self.rng
        # A third are there from the start, the rest join over the first half; some leave.
        joins = 0.0 if i < o.clients // 3 else rng.uniform(60, o.seconds / 2)
        leaves = o.seconds if rng.random() < 0.7 else rng.uniform(joins + 120, o.seconds)
        governor = Governor(clock=lambda: self.now, today=lambda: "day", jitter=self.rng.random)
        # configured as the provider table configures Langdock; the usage is learnt from headers
        governor.configure(Limits(o.rpm, o.tpm, o.window_s))
        return Client(i, joins, leaves, rng.uniform(*o.rates), governor)

    def at(self, when: float, action: Callable[[], None]) -> None:
        self.order += 1
        heapq.heappush(self.queue, (when, self.order, action))

    def run(self) -> TeamReport:
        for client in self.clients:
            self.at(client.joins + self._gap(client), self._asker(client))
        while self.queue:
            when, _, action = heapq.heappop(self.queue)
            if when > self.options.seconds:
                break
            self.now = when
            action()
        return TeamReport(self.options, self.clients, self.workspace.history)

    def _compare_plan(self, client: Client) -> None:
        """A newcomer's planned request size against the median of those that were there a
        window before (its share, in a workspace that shares per request), at each of its
        answers until it plans at 80% of that or a window has passed since its first request."""
        window = self.options.window_s
        if client.at_share is not None or client.joins < window:
            return
        peers = [c for c in self.clients if c.joins <= self.now - window and c.leaves > self.now]
        if not peers:
            return
        median = statistics.median(_planned(p) for p in peers)
        ratio = _planned(client) / median if median else 1.0
        start = client.joins if client.first_ask is None else client.first_ask
        if ratio >= 0.8 or self.now - start >= window:
            client.at_share = (self.now - start, ratio)

    def _gap(self, client: Client) -> float:
        return self.rng.expovariate(client.per_minute / 60)

    def _asker(self, client: Client) -> Callable[[], None]:
        def ask() -> None:
            if self.now >= client.leaves:
                return
            self._request(client)
            self.at(self.now + self._gap(client), ask)

        return ask

    def _request(self, client: Client) -> None:
        if client.first_ask is None:
            client.first_ask = self.now
        governor = client.governor
        plan = governor.plan(False, FULL_BUDGET + MAX_TOKENS, MAX_TOKENS)
        prompt = max(1, round(FULL_PROMPT * plan.scale))
        reply_cap = plan.max_tokens or MAX_TOKENS
        need = prompt + reply_cap
        if not governor.admit(False, need).allowed:
            client.skipped += 1
            return
        entry = governor.sent(need)
        client.sent += 1
        sent_at = self.now
        arrival = self.now + NET_S * (0.5 + self.rng.random())

        def arrive() -> None:
            admitted = self.workspace.arrive(self.now, prompt)
            headers = self.workspace.headers(self.now)
            reply = min(reply_cap, max(4, int(self.rng.gauss(40, 15))))
            ends = self.now + FIRST_TOKEN_S + TOKEN_S * reply + NET_S

            def end() -> None:
                if not admitted:
                    client.refused += 1
                    client.refused_warm += client.warm
                    governor.rate_limited(None, headers)
                else:
                    self.workspace.charge(self.now, reply, 0)
                    client.served.append((self.now, prompt + reply))
                    governor.settle(entry, prompt, reply)
                    governor.observe_headers(headers, as_of=sent_at)
                    self._compare_plan(client)
                client.warm = True

            self.at(ends if admitted else self.now + NET_S, end)

        self.at(arrival, arrive)


@dataclass
class TeamReport:
    options: TeamOptions
    clients: list[Client]
    history: list[tuple[float, int]]

    def demand_per_minute(self, at: float) -> float:
        """Tokens a minute the active clients would send at full size."""
        active = [c for c in self.clients if c.joins <= at < c.leaves]
        return sum(c.per_minute * (FULL_PROMPT + 40) for c in active)

    def utilisation(self) -> float:
        """Mean tokens charged over the trailing window / the limit, sampled every 5 s after the
        first window, while demand exceeds the limit."""
        o, samples = self.options, []
        times = [t for t, _ in self.history]
        tokens = [n for _, n in self.history]
        cumulative = [0]
        for n in tokens:
            cumulative.append(cumulative[-1] + n)

        t = o.window_s * 2
        while t <= o.seconds:
            if self.demand_per_minute(t) * o.window_s / 60 > o.tpm:
                hi = bisect.bisect_right(times, t)
                lo = bisect.bisect_right(times, t - o.window_s)
                samples.append((cumulative[hi] - cumulative[lo]) / o.tpm)
            t += 5
        return statistics.fmean(samples) if samples else float("nan")

    def served_per_span(self, span_s: float) -> Iterator[list[int]]:
        """Tokens served over ``span_s`` to each client active through it (one window before
        and to its end), for spans from the second window on, every window."""
        o = self.options
        start = o.window_s
        while start + span_s <= o.seconds:
            end = start + span_s
            active = [c for c in self.clients if c.joins <= start - o.window_s and c.leaves >= end]
            yield [sum(n for t, n in c.served if start <= t < end) for c in active]
            start += o.window_s

    def jain(self, span_s: float = 300.0) -> float:
        """Jain's index of the tokens served over ``span_s`` among the clients active through
        it, averaged over the spans.

        Over one minute it mostly measures luck: at a fair share of ~1,100 tokens a minute
        each client is served two to four requests, and which side of a minute's edge one
        lands on moves its count by a third."""
        values = [
            sum(served) ** 2 / (len(served) * sum(x * x for x in served))
            for served in self.served_per_span(span_s)
            if len(served) >= 2 and sum(served)
        ]
        return statistics.fmean(values) if values else float("nan")

    def least_served(self, span_s: float = 300.0) -> float:
        """The least served active client's tokens over ``span_s`` as a share of the median
        client's, the lowest over the spans ``jain`` averages: a starved teammate shows here
        (at per-request shares, a 3-a-minute typist among 3-12 gets about 0.4)."""
        shares = [
            min(served) / statistics.median(served)
            for served in self.served_per_span(span_s)
            if len(served) >= 2 and statistics.median(served)
        ]
        return min(shares, default=float("nan"))

    def newcomer_share(self) -> list[tuple[float, float]]:
        """For each client joining after the first window: seconds from its first request
        (before it a typist asks for nothing) to the first answer after which it plans at 80%
        or more of the median of the clients there a window before, and that share (if a
        window passes first: the seconds then, and the share it had reached)."""
        return [c.at_share for c in self.clients if c.at_share is not None]

    def newcomer_seconds(self) -> list[float]:
        """For each client joining after the first window: seconds until its tokens over the
        trailing 30 s reach 80% of the median among clients active for a whole window."""
        o, result = self.options, []
        for c in self.clients:
            if c.joins < o.window_s or c.joins + o.window_s * 2 > min(c.leaves, o.seconds):
                continue
            start = c.joins if c.first_ask is None else c.first_ask
            t = start + 5
            while t < min(c.leaves, o.seconds):
                peers = [p for p in self.clients if p.joins <= t - o.window_s and p.leaves > t]
                if peers:
                    median = statistics.median(_recent(p, t) for p in peers)
                    if _recent(c, t) >= 0.8 * median:
                        break
                t += 5
            result.append(t - start)
        return result


def _planned(client: Client) -> float:
    """What the client's governor would plan for a full request now, in tokens."""
    plan = client.governor.plan(False, FULL_BUDGET + MAX_TOKENS, MAX_TOKENS)
    return plan.scale * FULL_BUDGET + (plan.max_tokens or MAX_TOKENS)


def _recent(client: Client, t: float, span: float = 30.0) -> int:
    return sum(n for at, n in client.served if t - span <= at < t)


def simulate(options: TeamOptions) -> TeamReport:
    return Simulation(options).run()


def checks(report: TeamReport) -> list[tuple[str, bool | None, str]]:
    """The targets for the simulation, with the measured value."""
    o = report.options
    utilisation, jain = report.utilisation(), report.jain()
    warm = sum(c.refused_warm for c in report.clients)
    worst = max(report.newcomer_seconds(), default=0.0)
    shares = report.newcomer_share()
    return [
        (
            "team: utilisation while demand exceeds the limit >= 85%",
            utilisation >= 0.85,
            f"{utilisation:.1%}",
        ),
        ("team: Jain's index of tokens served (5 min) >= 0.9", jain >= 0.9, f"{jain:.3f}"),
        ("team: 0 429s after warm-up", warm == 0, str(warm)),
        (
            f"team: a newcomer plans at its share (>= 80% of the median) within one window "
            f"({o.window_s:.0f} s)",
            all(t <= o.window_s and ratio >= 0.8 for t, ratio in shares),
            f"worst {max((t for t, _ in shares), default=0.0):.0f} s, lowest share "
            f"{min((r for _, r in shares), default=1.0):.2f}",
        ),
        (
            f"team: a newcomer served at 80% of the median within one window "
            f"({o.window_s:.0f} s; information: per-request shares favour frequent askers)",
            None,
            f"worst {worst:.0f} s",
        ),
    ]


def format_team(report: TeamReport) -> str:
    o = report.options
    newcomers = report.newcomer_seconds()
    refused = sum(c.refused for c in report.clients)
    warm = sum(c.refused_warm for c in report.clients)
    median = statistics.median(newcomers) if newcomers else float("nan")
    return "\n".join(
        [
            f"Team simulation: {o.clients} clients asking {o.rates[0]:g}-{o.rates[1]:g} times a "
            f"minute, joining and leaving over {o.seconds:.0f} s, one sliding {o.window_s:.0f} s "
            f"window of "
            f"{o.tpm:,} tokens / {o.rpm} requests, seed {o.seed}",
            f"  requests sent {sum(c.sent for c in report.clients)}, held back "
            f"{sum(c.skipped for c in report.clients)}, 429 {refused} ({warm} after warm-up)",
            f"  utilisation while demand exceeds the limit: {report.utilisation():.1%}",
            f"  Jain's index of tokens served among active clients: {report.jain():.3f} over 5 min"
            f" ({report.jain(o.window_s):.3f} over one window); the least served got "
            f"{report.least_served():.2f} of the median",
            f"  newcomers to 80% of the median share: median {median:.0f} s, worst "
            f"{max(newcomers, default=0.0):.0f} s ({len(newcomers)} newcomers)",
        ]
    )


def format_seeds(reports: list[TeamReport]) -> str:
    """One line per seed, then the range of each figure."""
    o = reports[0].options
    lines = [
        f"Team simulation over seeds {o.seed}-{reports[-1].options.seed}: {o.clients} clients "
        f"asking {o.rates[0]:g}-{o.rates[1]:g} times a minute, {o.tpm:,} tokens / {o.rpm} "
        f"requests per {o.window_s:.0f} s"
    ]
    rows = []
    for report in reports:
        row = (
            report.utilisation(),
            report.jain(),
            report.least_served(),
            sum(c.refused_warm for c in report.clients),
        )
        rows.append(row)
        lines.append(
            f"  seed {report.options.seed:3d}: utilisation {row[0]:.1%}, Jain {row[1]:.3f}, "
            f"the least served {row[2]:.2f} of the median, 429s after warm-up {row[3]}"
        )
    utilisation, jain, least, warm = (list(column) for column in zip(*rows, strict=True))
    lines.append(
        f"  all: utilisation {min(utilisation):.1%}-{max(utilisation):.1%}, Jain "
        f"{min(jain):.3f}-{max(jain):.3f}, the least served {min(least):.2f}-{max(least):.2f} "
        f"of the median, 429s after warm-up {sum(warm)} in {sum(w > 0 for w in warm)} seeds"
    )
    return "\n".join(lines)


def checks_over(reports: list[TeamReport]) -> list[tuple[str, bool | None, str]]:
    """The simulation's targets, each to be met in every seed."""
    per_seed = [checks(report) for report in reports]
    found = []
    for i, (target, passed, _) in enumerate(per_seed[0]):
        if passed is None:
            continue
        missed = [r.options.seed for r, c in zip(reports, per_seed, strict=True) if not c[i][1]]
        value = f"met in {len(reports) - len(missed)} of {len(reports)} seeds"
        if missed:
            value += (
                f" (not in {', '.join(map(str, missed[:8]))}{', ...' if len(missed) > 8 else ''})"
            )
        found.append((f"{target}, every seed", not missed, value))
    return found
