/// Whether one probe's answer shows the expected file served (README: Only what is served counts): pure rules
/// over the answer, for ``ConfirmationRun``.
public enum ProbeJudge {
    /// The status the rendered file answers the marker with: NGINX `return 200`, Apache its `ErrorDocument 404`
    /// (a file that some `DocumentRoot` serves at that path answers 200, and does not count).
    public static func markerStatus(_ kind: ProxyKind) -> Int { kind == .nginx ? 200 : 404 }

    /// nil when the answer counts: the expected generation (or redirect) with the file's status, and on an HTTPS
    /// listener the leaf of the configured certificate (`certificate`); otherwise what it got instead, both
    /// findings when both are wrong.
    public static func judge(
        _ answer: Result<ProbeAnswer, ProbeFailure>, listener: Listener, generation: String?,
        markerStatus: Int = 200, certificate: ExpectedCertificate = .notChecked
    ) -> String? {
        switch answer {
        case .failure(let failure):
            return failure.description
        case .success(let answer):
            let configuration = configurationMiss(
                answer, listener: listener, generation: generation, markerStatus: markerStatus)
            let presented = listener.scheme == .https ? certificate.miss(answer.presentedCertificate) : nil
            switch (configuration, presented) {
            case (nil, nil): return nil
            case (let one?, nil), (nil, let one?): return one
            case (let configuration?, let presented?): return "\(configuration); and \(presented)"
            }
        }
    }

    /// nil when the answer comes from the expected file (the generation with its status, or the redirect).
    public static func configurationMiss(
        _ answer: ProbeAnswer, listener: Listener, generation: String?, markerStatus: Int
    ) -> String? {
        if let target = listener.redirectTarget {
            let expected = target + Generation.path
            if answer.status == 301 && answer.location == expected { return nil }
            return
                "the previous configuration (HTTP \(answer.status)\(answer.location.map { " to \($0)" } ?? ""), expected 301 to \(expected))"
        }
        let served = Generation.inAnswer(answer.body)
        guard let generation else { return nil }  // a file without a marker: any answer will do
        if served == generation && answer.status == markerStatus { return nil }
        if served == generation {
            return "the generation with HTTP \(answer.status), not the \(markerStatus) the file answers it with (not the proxy's own answer)"
        }
        if let served { return "the previous generation (\(served), expected \(generation))" }
        return "the previous configuration (HTTP \(answer.status) without a generation)"
    }

    /// For a listener the new file dropped: nil once it no longer answers from the superseded file.
    public static func stillServing(_ answer: Result<ProbeAnswer, ProbeFailure>, superseded: String?) -> String? {
        guard case .success(let answer) = answer, let superseded, Generation.inAnswer(answer.body) == superseded else {
            return nil
        }
        return "the previous configuration still answers there (generation \(superseded)): the reload did not take"
    }
}
