import ProxySyncCore

/// The real ``ServingCheck``: it observes (sockets, processes, certificate files, the proxy's dump and answers)
/// and leaves the judging to the core's rules (``PortConflicts``, ``ApacheListenOverlaps``,
/// ``CertificatePolicy``, ``ConfirmationRun``, ``AnswerOrigin``).
public struct LiveServingCheck: ServingCheck {
    let settings: ProxySettings
    /// The host's listening sockets and their holders.
    let table: any SocketTableReader

    public init(settings: ProxySettings) {
        self.settings = settings
        self.table = ListeningSockets()
    }

    /// The addresses a probe connects to: each listen address, or loopback for all addresses.
    var probeAddresses: [String] { settings.listenAddresses.isEmpty ? ["127.0.0.1"] : settings.listenAddresses }

    // MARK: confirmation

    public func confirm(_ plan: ProxyPlan, generation: String?, superseded: Superseded?) async -> Confirmation {
        defer { Failpoint.hit(.afterConfirm) }
        let clock = ContinuousClock()
        let start = clock.now
        // The leaf every HTTPS listener must present, read once: a renewed file is what the reload should serve.
        let certificates = await Self.offPool { ExpectedCertificate.readEach(settings, plan: plan) }
        let run = ConfirmationRun(
            plan: plan, addresses: probeAddresses, generation: generation, superseded: superseded,
            markerStatus: ProbeJudge.markerStatus(settings.kind), certificates: certificates,
            timeoutSeconds: settings.confirmTimeoutSeconds)
        let confirmer = ServingConfirmer(
            prober: CurlListenerProber(proxyProtocol: settings.proxyProtocol), table: table,
            proxyNames: ProxyProcess.names(settings.kind), clock: clock)
        return await confirmer.confirm(run, since: start)
    }

    // MARK: end to end

    public func endToEnd(_ plan: ProxyPlan, generation: String?) async -> [Notice] {
        var notices: [Notice] = []
        for listener in plan.listeners where listener.action == .proxy {
            let address = probeAddresses[0]
            // The health request goes over a connection whose first answer carried the new generation, so it
            // is answered by the new configuration (not by an old worker still accepting for a moment).
            var problem: String? = "no connection answered from the new configuration"
            for _ in 0..<20 {
                let proxyProtocol = settings.proxyProtocol
                let (first, second) = await Self.offPool {
                    ListenerProbe.getPair(
                        listener, first: Generation.path, then: "/go/api/v1/health", address: address,
                        timeoutMilliseconds: 10_000, accept: "application/vnd.go.cd.v1+json", proxyProtocol: proxyProtocol
                    ) { answer in generation == nil || Generation.inAnswer(answer.body) == generation }
                }
                if case .failure(let failure) = first {
                    // An old worker closing its sockets may drop one connection: try again, within the attempts.
                    problem = failure.description
                    try? await Task.sleep(for: .milliseconds(25))
                    continue
                }
                guard let second else {
                    try? await Task.sleep(for: .milliseconds(25))
                    continue
                }
                switch second {
                case .failure(let failure): problem = failure.description
                case .success(let answer):
                    problem =
                        answer.status == 200 && answer.body.contains("\"health\"")
                        ? nil : "HTTP \(answer.status) instead of GoCD's health answer"
                }
                break
            }
            guard let problem else { continue }
            var metadata = ["listener": listener.origin, "got": problem, "upstream": settings.upstream.url]
            if let line = ProxyErrorLog.lastLine(settings: settings) { metadata["proxy_error_log"] = line }
            notices.append(
                Notice(
                    event: .upstreamUnreachable,
                    message:
                        "GoCD's health endpoint did not answer through the proxy (the new file stays: GoCD may be restarting; check upstream and the proxy's error log)",
                    metadata: metadata))
        }
        return notices
    }

    // MARK: diagnosis

    public func diagnose(testOutput: String) async -> String? {
        guard settings.kind == .apache else { return nil }
        return await Self.offPool {
            guard let missing = missingApacheModules(), !missing.isEmpty else { return nil }
            return ApacheModules.advice(missing)
        }
    }

    /// Modules the file needs that httpd does not load (`httpd -M`, built from the test command); nil when
    /// that cannot be asked.
    public func missingApacheModules() -> [String]? {
        CommandApacheModuleLister(settings: settings).missingModules(settings)
    }

    // MARK: the proxy's process

    public func proxyRunning() -> Bool? {
        ProcProxyProcessCheck(kind: settings.kind).proxyRunning()
    }

    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await Blocking.run(work)
    }
}
