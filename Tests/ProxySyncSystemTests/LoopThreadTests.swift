import Glibc
import ProxySyncCore
import ProxySyncSystem
import Testing

/// The daemon's own thread: its waits, its rings, and that the loop's work runs on it.
struct LoopThreadTests {
    @Test func waitEndsWhenItsTimeIsUp() async {
        let loop = LoopThread()
        defer { loop.stop() }
        let (ring, onLoop) = await withTaskExecutorPreference(loop) {
            (await loop.wait(for: .milliseconds(20)), LoopThread.isCurrent)
        }
        #expect(ring == nil)
        #expect(onLoop, "the task ran on the loop thread")
        #expect(!LoopThread.isCurrent)
    }

    @Test func aRingEndsALongWaitAtOnce() async {
        let loop = LoopThread()
        defer { loop.stop() }
        let waiting = Task {
            await withTaskExecutorPreference(loop) { await loop.wait(for: .seconds(3600)) }
        }
        // The ring may come before or during the wait: either way the wait returns it.
        try? await Task.sleep(for: .milliseconds(10))
        loop.ring(.reload)
        #expect(await waiting.value == .reload)
    }

    @Test func ringsWaitingAreTakenShutdownFirst() async {
        let loop = LoopThread()
        defer { loop.stop() }
        loop.ring(.reload)
        loop.ring(.shutdown)
        #expect(await loop.take() == .shutdown)
        #expect(await loop.take() == nil)
        loop.ring(.reload)
        let ring = await withTaskExecutorPreference(loop) { await loop.wait(for: .seconds(3600)) }
        #expect(ring == .reload, "a ring that came before the wait ends it")
    }

    @Test func blockingWorkRunsInlineOnlyOnTheLoopThread() async {
        let loop = LoopThread()
        defer { loop.stop() }
        let (caller, worker) = await withTaskExecutorPreference(loop) {
            (pthread_self(), await Blocking.run { pthread_self() })
        }
        #expect(pthread_equal(caller, worker) != 0, "on the loop thread the work ran inline")
        let elsewhere = await Blocking.run { LoopThread.isCurrent }
        #expect(!elsewhere, "off the loop thread it runs on the blocking queue")
    }

    @Test func thePollLoopCyclesOnTheLoopThreadUntilShutdown() async {
        let loop = LoopThread()
        defer { loop.stop() }
        let driver = ThreadRecordingDriver()
        let poll = PollLoop(clock: ContinuousClock(), waiter: loop, watchdogInterval: nil, jitter: { 0 })
        let task = Task {
            await withTaskExecutorPreference(loop) {
                await poll.run(driver, intervalSeconds: 0.01, maxBackoffSeconds: 1)
            }
        }
        while driver.cycles.withLock({ $0.count }) < 3 { try? await Task.sleep(for: .milliseconds(5)) }
        loop.ring(.shutdown)
        await task.value
        let cycles = driver.cycles.withLock { $0 }
        #expect(cycles.count >= 3)
        #expect(cycles.allSatisfy { $0 }, "every cycle ran on the loop thread")
    }
}

/// Records, per cycle, whether it ran on a loop thread.
final class ThreadRecordingDriver: PollLoopDriver, Sendable {
    let cycles = Locked<[Bool]>([])
    func cycle() async -> CycleOutcome {
        cycles.withLock { $0.append(LoopThread.isCurrent) }
        return .unchanged
    }
    func cycleFinished(_ outcome: CycleOutcome, nextDelaySeconds: Double, first: Bool) {}
    func reloadConfiguration() -> (intervalSeconds: Double, maxBackoffSeconds: Double) { (0.01, 1) }
    func watchdogPing() {}
}
