/// Shell-style patterns (`*`, `?`, `[...]`), as NGINX's `include` (glob(3)) and Apache's `ServerAlias`
/// (`ap_strcasecmp_match`) use them.
public enum Glob {
    /// - Parameter pathname: `*`, `?` and `[...]` never match `/`, and a leading `.` of a path component
    ///   must be matched literally (glob(3) without `GLOB_PERIOD`).
    /// - Parameter ignoringCase: ASCII letters match either case.
    public static func matches(_ pattern: String, _ text: String, pathname: Bool = false, ignoringCase: Bool = false)
        -> Bool
    {
        let p = Array(pattern.utf8)
        let t = Array(text.utf8)
        return match(p, 0, t, 0, pathname: pathname, ignoringCase: ignoringCase, budget: 100_000) == true
    }

    /// nil when the budget of steps ran out (a pathological pattern): not a match.
    static func match(
        _ p: [UInt8], _ pi: Int, _ t: [UInt8], _ ti: Int, pathname: Bool, ignoringCase: Bool, budget: Int
    ) -> Bool? {
        var pi = pi
        var ti = ti
        var budget = budget
        while pi < p.count {
            budget -= 1
            if budget <= 0 { return nil }
            let atComponentStart = ti == 0 || (pathname && t[ti - 1] == 0x2F)
            switch p[pi] {
            case 0x2A:  // *
                while pi < p.count && p[pi] == 0x2A { pi += 1 }
                if pathname && ti < t.count && t[ti] == 0x2E && atComponentStart { return false }
                if pi == p.count { return !pathname || !t[ti...].contains(0x2F) }
                var k = ti
                while k <= t.count {
                    if let found = match(
                        p, pi, t, k, pathname: pathname, ignoringCase: ignoringCase, budget: budget)
                    {
                        if found { return true }
                    } else {
                        return nil
                    }
                    budget -= t.count - ti + 1
                    if budget <= 0 { return nil }
                    if k < t.count && pathname && t[k] == 0x2F { break }
                    k += 1
                }
                return false
            case 0x3F:  // ?
                guard ti < t.count, !(pathname && (t[ti] == 0x2F || (t[ti] == 0x2E && atComponentStart))) else {
                    return false
                }
                pi += 1
                ti += 1
            case 0x5B:  // [
                guard ti < t.count, !(pathname && t[ti] == 0x2F) else { return false }
                guard let (matched, next) = bracket(p, pi, t[ti], ignoringCase: ignoringCase) else {
                    // An unclosed `[` is a literal.
                    guard t[ti] == 0x5B else { return false }
                    pi += 1
                    ti += 1
                    continue
                }
                if !matched { return false }
                pi = next
                ti += 1
            case 0x5C where pi + 1 < p.count:  // backslash escapes the next byte
                guard ti < t.count, same(p[pi + 1], t[ti], ignoringCase) else { return false }
                pi += 2
                ti += 1
            default:
                guard ti < t.count, same(p[pi], t[ti], ignoringCase) else { return false }
                pi += 1
                ti += 1
            }
        }
        return ti == t.count
    }

    /// `[abc]`, `[a-z]`, `[!x]`, `[^x]` at `p[start]`: whether `byte` matches and the index after `]`.
    static func bracket(_ p: [UInt8], _ start: Int, _ byte: UInt8, ignoringCase: Bool) -> (Bool, Int)? {
        var index = start + 1
        var negate = false
        if index < p.count && (p[index] == 0x21 || p[index] == 0x5E) {
            negate = true
            index += 1
        }
        var matched = false
        var first = true
        while index < p.count {
            if p[index] == 0x5D && !first { return (matched != negate, index + 1) }
            first = false
            let low = p[index]
            if index + 2 < p.count && p[index + 1] == 0x2D && p[index + 2] != 0x5D {
                let high = p[index + 2]
                let b = ignoringCase ? lower(byte) : byte
                if (low...max(low, high)).contains(byte) || (ignoringCase && (lower(low)...max(lower(low), lower(high))).contains(b)) {
                    matched = true
                }
                index += 3
            } else {
                if same(low, byte, ignoringCase) { matched = true }
                index += 1
            }
        }
        return nil
    }

    static func same(_ a: UInt8, _ b: UInt8, _ ignoringCase: Bool) -> Bool {
        ignoringCase ? lower(a) == lower(b) : a == b
    }

    static func lower(_ byte: UInt8) -> UInt8 {
        (0x41...0x5A).contains(byte) ? byte + 32 : byte
    }
}
