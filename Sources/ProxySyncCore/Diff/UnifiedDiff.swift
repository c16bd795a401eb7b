/// A line-based unified diff (LCS), enough for the small files this program writes.
public enum UnifiedDiff {
    public static func make(old: String, new: String, oldName: String, newName: String, context: Int = 3) -> String {
        let a = lines(old)
        let b = lines(new)
        if a == b { return "" }
        // LCS table, from the end.
        var table = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        enum Op { case same(String), del(String), add(String) }
        var ops: [(Op, Int, Int)] = []
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                ops.append((.same(a[i]), i, j))
                i += 1
                j += 1
            } else if j < b.count, i == a.count || table[i][j + 1] > table[i + 1][j] {
                ops.append((.add(b[j]), i, j))
                j += 1
            } else {
                ops.append((.del(a[i]), i, j))
                i += 1
            }
        }
        var out = "--- \(oldName)\n+++ \(newName)\n"
        var index = 0
        while index < ops.count {
            guard let change = ops[index...].firstIndex(where: { if case .same = $0.0 { return false } else { return true } })
            else { break }
            let start = max(index, change - context)
            var end = change
            var lastChange = change
            while end < ops.count {
                if case .same = ops[end].0 {
                    if end - lastChange > context * 2 { break }
                } else {
                    lastChange = end
                }
                end += 1
            }
            end = min(ops.count, lastChange + context + 1)
            let hunk = ops[start..<end]
            var oldCount = 0
            var newCount = 0
            var body = ""
            for (op, _, _) in hunk {
                switch op {
                case .same(let line):
                    body += " \(line)\n"
                    oldCount += 1
                    newCount += 1
                case .del(let line):
                    body += "-\(line)\n"
                    oldCount += 1
                case .add(let line):
                    body += "+\(line)\n"
                    newCount += 1
                }
            }
            let oldStart = oldCount == 0 ? hunk.first!.1 : hunk.first!.1 + 1
            let newStart = newCount == 0 ? hunk.first!.2 : hunk.first!.2 + 1
            out += "@@ -\(oldStart),\(oldCount) +\(newStart),\(newCount) @@\n" + body
            index = end
        }
        return out
    }

    static func lines(_ text: String) -> [String] {
        var parts = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if parts.last == "" { parts.removeLast() }
        return parts
    }
}
