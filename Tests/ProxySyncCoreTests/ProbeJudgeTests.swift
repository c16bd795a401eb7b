import ProxySyncCore
import Testing

/// How a probe's answer is judged after a reload.
struct ProbeJudgeTests {
    let proxying = Listener(scheme: .https, port: 8443, serverName: "gocd.test", action: .proxy)
    let redirect = Listener(scheme: .http, port: 8080, serverName: "gocd.test", action: .redirect(to: "https://gocd.test:8443"))

    func answer(_ status: Int, _ body: String = "", location: String? = nil) -> Result<ProbeAnswer, ProbeFailure> {
        .success(ProbeAnswer(status: status, location: location, body: body))
    }

    @Test func onlyTheNewGenerationConfirmsAProxyingListener() {
        #expect(ProbeJudge.judge(answer(200, "gocd-proxy-sync-generation=00000000000000aa\n"), listener: proxying, generation: "00000000000000aa") == nil)
        let old = ProbeJudge.judge(answer(200, "gocd-proxy-sync-generation=00000000000000bb\n"), listener: proxying, generation: "00000000000000aa")
        #expect(old?.contains("previous generation") == true)
        #expect(ProbeJudge.judge(answer(200, "hello"), listener: proxying, generation: "00000000000000aa") != nil, "a plain 200 proves nothing")
    }

    /// Who answered, from the listening sockets read after the answer: "address uid" pairs → a problem or none.
    @Test(arguments: [
        ("0.0.0.0 0", nil as String?),
        ("127.0.0.1 0", nil),
        ("127.0.0.1 65534", "uid 65534"),
        ("0.0.0.0 0, 127.0.0.1 1000", "uid 1000"),
        ("", "no root-owned socket listens"),
    ])
    func whoAnsweredIsJudgedFromTheListeningSockets(sockets: String, problem: String?) {
        let listening = sockets.split(separator: ",").map { pair in
            let parts = pair.split(separator: " ")
            return ListeningSocket(address: String(parts[0]), port: 8080, inode: 1, uid: UInt32(parts[1])!)
        }
        let found = AnswerOrigin.ownerProblem(listening: listening, address: "127.0.0.1", port: 8080)
        if let problem {
            #expect(found?.contains(problem) == true, "\(found ?? "nil")")
        } else {
            #expect(found == nil)
        }
    }

    @Test func aVisibleHolderMustBeTheProxy() {
        let nginx = SocketHolder(pid: 10, name: "nginx")
        let python = SocketHolder(pid: 11, name: "python3")
        #expect(AnswerOrigin.holderProblem([], proxyNames: ["nginx"]) == nil, "hidden holders: the uid rule decides")
        #expect(AnswerOrigin.holderProblem([nginx], proxyNames: ["nginx"]) == nil)
        #expect(AnswerOrigin.holderProblem([nginx, python], proxyNames: ["nginx"]) == nil, "workers and master share it")
        #expect(AnswerOrigin.holderProblem([python], proxyNames: ["nginx"])?.contains("python3 (pid 11)") == true)
    }

    @Test func aRedirectListenerIsConfirmedByItsTarget() {
        let right = answer(301, location: "https://gocd.test:8443/.well-known/gocd-proxy-sync/generation")
        #expect(ProbeJudge.judge(right, listener: redirect, generation: "00000000000000aa") == nil)
        let wrong = answer(301, location: "https://old.test/.well-known/gocd-proxy-sync/generation")
        #expect(ProbeJudge.judge(wrong, listener: redirect, generation: "00000000000000aa")?.contains("previous configuration") == true)
    }

    @Test func aDroppedListenerMustStopAnsweringFromTheSupersededFile() {
        let old = answer(200, "gocd-proxy-sync-generation=00000000000000bb\n")
        #expect(ProbeJudge.stillServing(old, superseded: "00000000000000bb")?.contains("did not take") == true)
        #expect(ProbeJudge.stillServing(answer(404), superseded: "00000000000000bb") == nil)
        #expect(ProbeJudge.stillServing(.failure(ProbeFailure("connection refused")), superseded: "00000000000000bb") == nil)
    }

    @Test func theGenerationCountsOnlyWithTheStatusTheFileAnswersItWith() {
        let body = "gocd-proxy-sync-generation=00000000000000aa\n"
        #expect(ProbeJudge.judge(answer(404, body), listener: proxying, generation: "00000000000000aa", markerStatus: 404) == nil)
        // A file some DocumentRoot serves at the marker's path answers 200 with whatever it holds.
        let fromAFile = ProbeJudge.judge(answer(200, body), listener: proxying, generation: "00000000000000aa", markerStatus: 404)
        #expect(fromAFile?.contains("not the proxy's own answer") == true)
    }
    // The leaf an HTTPS listener presents (README: Only what is served counts; A renewed certificate is served).

    let configured = CertificateFingerprint(bytes: Array(repeating: 0xCD, count: 32))
    let older = CertificateFingerprint(bytes: Array(repeating: 0xAB, count: 32))
    var expected: ExpectedCertificate { .leaf(configured, file: "/etc/ssl/gocd/fullchain.pem") }
    let marker = "gocd-proxy-sync-generation=00000000000000aa\n"

    func tls(_ status: Int, _ body: String, presented: CertificateFingerprint?) -> Result<ProbeAnswer, ProbeFailure> {
        .success(ProbeAnswer(status: status, location: nil, body: body, presentedCertificate: presented))
    }

    @Test func theConfiguredLeafPresentedCounts() {
        let answer = tls(200, marker, presented: configured)
        #expect(ProbeJudge.judge(answer, listener: proxying, generation: "00000000000000aa", certificate: expected) == nil)
    }

    @Test func anotherCertificateIsAMissThatNamesBoth() throws {
        let answer = tls(200, marker, presented: older)
        let miss = try #require(
            ProbeJudge.judge(answer, listener: proxying, generation: "00000000000000aa", certificate: expected))
        #expect(miss.contains("a certificate other than tls_certificate's /etc/ssl/gocd/fullchain.pem"), "\(miss)")
        #expect(miss.contains("presented sha256 ABABABABABABABAB…") && miss.contains("expected CDCDCDCDCDCDCDCD…"), "\(miss)")
        #expect(miss.contains("older or another certificate"))
        #expect(!miss.contains("previous"), "the generation was right: only the certificate is named")
    }

    @Test func aPresentedCertificateThatCouldNotBeReadIsAMiss() throws {
        let answer = tls(200, marker, presented: nil)
        let miss = try #require(
            ProbeJudge.judge(answer, listener: proxying, generation: "00000000000000aa", certificate: expected))
        #expect(miss.contains("without a certificate the probe could read"), "\(miss)")
    }

    @Test func aConfiguredFileThatCannotBeReadIsAMiss() throws {
        let answer = tls(200, marker, presented: configured)
        let miss = try #require(
            ProbeJudge.judge(
                answer, listener: proxying, generation: "00000000000000aa",
                certificate: .unreadable("tls_certificate: cannot read certificate /x.pem: No such file or directory")))
        #expect(miss.contains("/x.pem"), "\(miss)")
    }

    @Test func theWrongGenerationAndTheWrongCertificateAreBothSaid() throws {
        let answer = tls(200, "gocd-proxy-sync-generation=00000000000000bb\n", presented: older)
        let miss = try #require(
            ProbeJudge.judge(answer, listener: proxying, generation: "00000000000000aa", certificate: expected))
        #expect(miss.contains("previous generation") && miss.contains("a certificate other than tls_certificate's"), "\(miss)")
    }

    @Test func httpListenersAndUnconfiguredCertificatesAreNotJudgedByCertificate() {
        // An http listener has no certificate to present.
        let right = answer(301, location: "https://gocd.test:8443/.well-known/gocd-proxy-sync/generation")
        #expect(ProbeJudge.judge(right, listener: redirect, generation: "00000000000000aa", certificate: expected) == nil)
        // No certificate configured: what was presented (here: nothing read) does not matter.
        #expect(ProbeJudge.judge(tls(200, marker, presented: nil), listener: proxying, generation: "00000000000000aa") == nil)
        // An HTTPS redirect listener is judged by its certificate too.
        let secureRedirect = Listener(
            scheme: .https, port: 8443, serverName: "old.gocd.test", action: .redirect(to: "https://gocd.test:8443"))
        let redirected = ProbeAnswer(
            status: 301, location: "https://gocd.test:8443/.well-known/gocd-proxy-sync/generation", body: "",
            presentedCertificate: older)
        #expect(
            ProbeJudge.judge(.success(redirected), listener: secureRedirect, generation: "00000000000000aa", certificate: expected)?
                .contains("other than tls_certificate's") == true)
    }
}
