/// One confirmation after a reload, as a value stepped by probe results and elapsed time (README: Only what is
/// served counts): every listener of the plan at every probe address must answer from the new generation, and
/// every proxying listener the new file dropped must stop answering from the superseded one, before the timeout.
///
/// It knows no clock: the driver (``ServingConfirmer``) passes the seconds elapsed since the confirmation began.
/// A round probes each ``pending`` target once, ``record(_:miss:)``s each result, then ``endRound(elapsed:)``
/// says whether the confirmation is over.
public struct ConfirmationRun: Sendable {
    /// One listener at one address; a `retired` one belongs to the superseded file and is gone from the plan.
    public struct Target: Equatable, Sendable {
        public var listener: Listener
        public var address: String
        public var retired: Bool
    }

    /// What one answer shows.
    public enum Verdict: Equatable, Sendable {
        case served
        /// What it got instead.
        case missed(String)
        /// The answer is right; whether it came from the proxy's own socket is still to be seen (``AnswerOrigin``).
        case askWhoAnswered
    }

    /// How long to wait between rounds: NGINX takes tens of milliseconds to fork its new workers, so ask often
    /// and confirmation adds little beyond the proxy's own reload.
    public static let pollInterval: Duration = .milliseconds(10)

    public private(set) var pending: [Target] = []
    let generation: String?
    let supersededGeneration: String?
    let markerStatus: Int
    let certificates: [String: ExpectedCertificate]
    let timeoutSeconds: Double
    var observed: [String: String] = [:]
    var missed: [Target] = []

    /// - Parameters:
    ///   - addresses: where each listener is probed (each listen address, or loopback for all addresses).
    ///   - certificates: the leaf each HTTPS server name must present, read once before the first round.
    public init(
        plan: ProxyPlan, addresses: [String], generation: String?, superseded: Superseded?, markerStatus: Int,
        certificates: [String: ExpectedCertificate], timeoutSeconds: Double
    ) {
        self.generation = generation
        self.supersededGeneration = superseded?.generation
        self.markerStatus = markerStatus
        self.certificates = certificates
        self.timeoutSeconds = timeoutSeconds
        for listener in plan.listeners {
            for address in addresses { pending.append(Target(listener: listener, address: address, retired: false)) }
        }
        if let superseded, let generation, superseded.generation != generation {
            let kept = Set(plan.listeners.map { "\($0.port) \($0.serverName)" })
            for listener in superseded.listeners
            where listener.action == .proxy && !kept.contains("\(listener.port) \(listener.serverName)") {
                for address in addresses { pending.append(Target(listener: listener, address: address, retired: true)) }
            }
        }
    }

    func certificate(for target: Target) -> ExpectedCertificate {
        certificates[target.listener.serverName] ?? .notChecked
    }

    /// True when the probe of `target` should report the certificate it was presented.
    public func wantsPresentedCertificate(_ target: Target) -> Bool {
        !target.retired && certificate(for: target).wantsPresented
    }

    /// The timeout of a probe sent `elapsed` seconds in: what is left (at least 50 ms), at most 2 s.
    public func probeTimeoutMilliseconds(elapsed: Double) -> Int {
        let remaining = max(0.05, timeoutSeconds - elapsed)
        return Int(min(remaining, 2) * 1000)
    }

    /// What `answer` shows for `target`.
    public func judge(_ answer: Result<ProbeAnswer, ProbeFailure>, for target: Target) -> Verdict {
        let miss =
            target.retired
            ? ProbeJudge.stillServing(answer, superseded: supersededGeneration)
            : ProbeJudge.judge(
                answer, listener: target.listener, generation: generation, markerStatus: markerStatus,
                certificate: certificate(for: target))
        if let miss { return .missed(miss) }
        if target.retired { return .served }
        return .askWhoAnswered
    }

    /// The result for `target` in this round: nil when it answered as expected, else what it got.
    public mutating func record(_ target: Target, miss: String?) {
        guard let miss else { return }
        observed[target.listener.origin] = miss
        missed.append(target)
    }

    /// Ends a round `elapsed` seconds in: the confirmation when every target answered or the time is up (the
    /// first target still missing, with what it last got); nil to probe the targets still missing again.
    public mutating func endRound(elapsed: Double) -> Confirmation? {
        pending = missed
        missed = []
        if pending.isEmpty { return Confirmation(failedListener: nil, observed: "", elapsedSeconds: elapsed) }
        guard elapsed >= timeoutSeconds else { return nil }
        let listener = pending[0].listener
        return Confirmation(
            failedListener: listener.origin,
            observed: "\(observed[listener.origin] ?? "no answer") after \(Int((elapsed * 1000).rounded())) ms",
            elapsedSeconds: elapsed)
    }
}
