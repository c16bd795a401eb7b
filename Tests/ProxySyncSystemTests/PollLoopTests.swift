import ProxySyncCore
import ProxySyncSystem
import ProxySyncTestSupport
import Testing

/// A driver that records what the loop does; its cycles can be held open to test shutdown mid-apply.
final class RecordingDriver: PollLoopDriver, @unchecked Sendable {
    struct State {
        var cycles = 0
        var finished: [(CycleOutcome, Double, Bool)] = []
        var reloads = 0
        var pings = 0
        var outcomes: [CycleOutcome] = []
        var holdNextCycle = false
        var heldCycle: CheckedContinuation<Void, Never>?
        var settingsAfterReload = (intervalSeconds: 10.0, maxBackoffSeconds: 60.0)
    }

    let state = Locked(State())

    func cycle() async -> CycleOutcome {
        let hold = state.withLock { state -> Bool in
            state.cycles += 1
            let hold = state.holdNextCycle
            state.holdNextCycle = false
            return hold
        }
        if hold {
            await withCheckedContinuation { continuation in state.withLock { $0.heldCycle = continuation } }
        }
        return state.withLock { state in state.outcomes.isEmpty ? .unchanged : state.outcomes.removeFirst() }
    }

    func cycleFinished(_ outcome: CycleOutcome, nextDelaySeconds: Double, first: Bool) {
        state.withLock { $0.finished.append((outcome, nextDelaySeconds, first)) }
    }

    func reloadConfiguration() -> (intervalSeconds: Double, maxBackoffSeconds: Double) {
        state.withLock { state in
            state.reloads += 1
            return state.settingsAfterReload
        }
    }

    func watchdogPing() { state.withLock { $0.pings += 1 } }

    var cycles: Int { state.withLock { $0.cycles } }
    var delays: [Double] { state.withLock { $0.finished.map(\.1) } }
}

/// Waits (yielding, not sleeping) until `condition` holds.
func eventually(_ condition: () -> Bool) async {
    for _ in 0..<100_000 where !condition() {
        await Task.yield()
    }
    #expect(condition())
}

struct PollLoopTests {
    func start(
        _ driver: RecordingDriver, clock: ManualClock, doorbell: Doorbell, interval: Double = 30, cap: Double = 300,
        watchdog: Duration? = nil
    ) -> Task<Void, Never> {
        let loop = PollLoop(
            clock: clock, waiter: ClockWaiter(clock: clock, doorbell: doorbell), watchdogInterval: watchdog, jitter: { 0 })
        return Task { await loop.run(driver, intervalSeconds: interval, maxBackoffSeconds: cap) }
    }

    @Test func cyclesEveryIntervalAndReportsReadyOnce() async {
        let clock = ManualClock()
        let driver = RecordingDriver()
        let doorbell = Doorbell()
        let task = start(driver, clock: clock, doorbell: doorbell)
        await eventually { driver.cycles == 1 && clock.sleeperCount == 1 }
        clock.advance(by: .seconds(29))
        await Task.yield()
        #expect(driver.cycles == 1, "not before the interval")
        clock.advance(by: .seconds(1))
        await eventually { driver.cycles == 2 && clock.sleeperCount == 1 }
        #expect(driver.state.withLock { $0.finished.map(\.2) } == [true, false], "READY only after the first cycle")
        await doorbell.ring(.shutdown)
        await task.value
    }

    @Test func backsOffOnGoCDErrorsThenReturnsToTheInterval() async {
        let clock = ManualClock()
        let driver = RecordingDriver()
        let error = CycleOutcome.gocdError(.transport("connection refused"))
        driver.state.withLock { $0.outcomes = [error, error, error, .unchanged] }
        let doorbell = Doorbell()
        let task = start(driver, clock: clock, doorbell: doorbell, interval: 10, cap: 30)
        for expected in 1...4 {
            await eventually { driver.cycles == expected && clock.sleeperCount == 1 }
            clock.advance(by: .seconds(Int64(driver.delays.last ?? 0)))
        }
        await eventually { driver.cycles == 5 }
        #expect(Array(driver.delays.prefix(4)) == [20, 30, 30, 10])
        await doorbell.ring(.shutdown)
        await task.value
    }

    @Test func shutdownEndsTheWaitAtOnce() async {
        let clock = ManualClock()
        let driver = RecordingDriver()
        let doorbell = Doorbell()
        let task = start(driver, clock: clock, doorbell: doorbell)
        await eventually { driver.cycles == 1 && clock.sleeperCount == 1 }
        await doorbell.ring(.shutdown)
        await task.value
        #expect(driver.cycles == 1, "no further cycle after shutdown")
        #expect(clock.sleeperCount == 0)
    }

    @Test func shutdownDuringACycleLetsItFinish() async {
        let clock = ManualClock()
        let driver = RecordingDriver()
        driver.state.withLock { $0.holdNextCycle = true }
        let doorbell = Doorbell()
        let task = start(driver, clock: clock, doorbell: doorbell)
        await eventually { driver.state.withLock { $0.heldCycle != nil } }
        await doorbell.ring(.shutdown)
        await Task.yield()
        #expect(driver.state.withLock { $0.finished.isEmpty }, "the cycle is still running")
        driver.state.withLock { $0.heldCycle }?.resume()
        await task.value
        #expect(driver.state.withLock { $0.finished.count } == 1, "the cycle completed before the loop ended")
        #expect(driver.cycles == 1)
    }

    @Test func reloadRereadsTheConfigAndSyncsAtOnce() async {
        let clock = ManualClock()
        let driver = RecordingDriver()
        let doorbell = Doorbell()
        let task = start(driver, clock: clock, doorbell: doorbell, interval: 30)
        await eventually { driver.cycles == 1 && clock.sleeperCount == 1 }
        await doorbell.ring(.reload)
        await eventually { driver.cycles == 2 }
        #expect(driver.state.withLock { $0.reloads } == 1)
        await eventually { clock.sleeperCount == 1 }
        #expect(driver.delays.last == 10, "the re-read config's interval is in force")
        await doorbell.ring(.shutdown)
        await task.value
    }

    /// A SIGHUP that comes while no wait listens (here: before the first cycle) is still honoured.
    @Test func aReloadWhileNoWaitListensIsNotLost() async {
        let clock = ManualClock()
        let driver = RecordingDriver()
        let doorbell = Doorbell()
        await doorbell.ring(.reload)
        let task = start(driver, clock: clock, doorbell: doorbell, interval: 30)
        await eventually { driver.cycles == 1 && clock.sleeperCount == 1 }
        #expect(driver.state.withLock { $0.reloads } == 1)
        #expect(driver.delays.last == 10, "the re-read config's interval is in force")
        await doorbell.ring(.shutdown)
        await task.value
    }

    @Test func watchdogIsPingedDuringLongWaits() async {
        let clock = ManualClock()
        let driver = RecordingDriver()
        let doorbell = Doorbell()
        let task = start(driver, clock: clock, doorbell: doorbell, interval: 30, watchdog: .seconds(5))
        await eventually { driver.cycles == 1 && clock.sleeperCount == 1 }
        let before = driver.state.withLock { $0.pings }
        for _ in 0..<3 {
            clock.advance(by: .seconds(5))
            await eventually { clock.sleeperCount == 1 }
        }
        #expect(driver.state.withLock { $0.pings } == before + 3)
        #expect(driver.cycles == 1)
        await doorbell.ring(.shutdown)
        await task.value
    }
}
