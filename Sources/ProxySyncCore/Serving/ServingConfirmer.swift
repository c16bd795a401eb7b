/// Drives a ``ConfirmationRun``: probes every pending target, asks who answered a right answer, and waits
/// ``ConfirmationRun/pollInterval`` on `clock` between rounds until the run ends.
///
/// The clock is a dependency: the daemon passes `ContinuousClock`, tests a manual one.
public struct ServingConfirmer<C: Clock>: Sendable where C.Duration == Duration, C: Sendable {
    let prober: any ListenerProber
    let table: any SocketTableReader
    let proxyNames: Set<String>
    let clock: C

    public init(prober: any ListenerProber, table: any SocketTableReader, proxyNames: Set<String>, clock: C) {
        self.prober = prober
        self.table = table
        self.proxyNames = proxyNames
        self.clock = clock
    }

    /// Runs `run` to its end; `start` is when the confirmation began (before its certificates were read).
    public func confirm(_ run: ConfirmationRun, since start: C.Instant) async -> Confirmation {
        var run = run
        while true {
            for target in run.pending {
                let answer = await prober.probe(
                    target.listener, address: target.address,
                    timeoutMilliseconds: run.probeTimeoutMilliseconds(elapsed: elapsed(since: start)),
                    presentedCertificate: run.wantsPresentedCertificate(target))
                let miss: String?
                switch run.judge(answer, for: target) {
                case .served: miss = nil
                case .missed(let what): miss = what
                case .askWhoAnswered:
                    miss = AnswerOrigin.problem(
                        address: target.address, port: target.listener.port, proxyNames: proxyNames, table: table)
                }
                run.record(target, miss: miss)
            }
            if let confirmation = run.endRound(elapsed: elapsed(since: start)) { return confirmation }
            try? await clock.sleep(for: ConfirmationRun.pollInterval)
        }
    }

    func elapsed(since start: C.Instant) -> Double {
        let duration = start.duration(to: clock.now)
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
