import Testing

@testable import ProxySyncCore

struct BackoffTests {
    @Test func intervalWithJitterBounds() {
        var backoff = Backoff(intervalSeconds: 30, maxBackoffSeconds: 300)
        #expect(backoff.next(after: .unchanged, jitter: 0) == 30)
        #expect(backoff.next(after: .unchanged, jitter: 1) == 33)
        #expect(backoff.next(after: .unchanged, jitter: -1) == 27)
        #expect(backoff.next(after: .unchanged, jitter: 7) == 33, "jitter is clamped to ±10 %")
    }

    @Test func gocdErrorsBackOffExponentiallyUpToTheCapThenReset() {
        var backoff = Backoff(intervalSeconds: 30, maxBackoffSeconds: 300)
        let error = CycleOutcome.gocdError(.transport("connection refused"))
        let delays = (0..<6).map { _ in backoff.next(after: error, jitter: 0) }
        #expect(delays == [60, 120, 240, 300, 300, 300])
        #expect(backoff.next(after: .unchanged, jitter: 0) == 30)
        #expect(backoff.failures == 0)
    }

    @Test func otherFailuresKeepTheInterval() {
        var backoff = Backoff(intervalSeconds: 10, maxBackoffSeconds: 60)
        #expect(backoff.next(after: .testFailed(output: "x"), jitter: 0) == 10)
        #expect(backoff.next(after: .rejected(SiteURLRejection(field: "site_url", rawValue: "x", reason: "y")), jitter: 0) == 10)
    }

    @Test func capNeverBelowInterval() {
        var backoff = Backoff(intervalSeconds: 60, maxBackoffSeconds: 10)
        #expect(backoff.next(after: .gocdError(.notFound), jitter: 0) == 60)
    }

    @Test func notServingIsRetriedOnTheBackoffScheduleNeverEveryCycle() {
        var backoff = Backoff(intervalSeconds: 1, maxBackoffSeconds: 30)
        #expect(backoff.next(after: .notServing("x"), jitter: 0) == 4)
        #expect(backoff.next(after: .notServing("x"), jitter: 0) == 8)
        #expect(backoff.next(after: .notServing("x"), jitter: 0) == 16)
        #expect(backoff.next(after: .unchanged, jitter: 0) == 1)
    }
}
