@testable import HarnessCore
import Testing

/// The log encoder's string table and the identity cache in front of it.
@Suite struct StringIndexTests {
    /// Long strings (heap storage) and short ones (bytes in the String itself), looked up through
    /// the same String, through fresh copies with other storage, and after the table is cleared.
    @Test func cacheAnswersLikeTheTable() {
        var index = StringIndex(minimumCapacity: 8)
        let keys = (0..<600).map { i in
            i % 2 == 0 ? "short-\(i)" : "a long header value that lives on the heap, number \(i)"
        }
        for (i, k) in keys.enumerated() { index.insert(k, value: i) }
        for round in 0..<3 {
            for (i, k) in keys.enumerated() {
                #expect(index.find(k) == i, "round \(round), same string \(i)")
                let copy = String(decoding: Array(k.utf8), as: UTF8.self)
                #expect(index.find(copy) == i, "round \(round), copy \(i)")
            }
        }
        #expect(index.find("not there") == nil)
        #expect(index.find(keys[1] + "x") == nil)
        index.removeAll()
        for k in keys { #expect(index.find(k) == nil) }
        index.insert(keys[3], value: 7)
        #expect(index.find(keys[3]) == 7)
        #expect(index.find(keys[5]) == nil)
    }

    /// A string freed and replaced by other text at the same address must not be taken for the
    /// old one: the cache holds its keys, so the address cannot be reused while cached.
    @Test func replacedStorageIsNotMistaken() {
        var index = StringIndex(minimumCapacity: 8)
        for i in 0..<2000 {
            let s = "value number \(i) with enough bytes to live on the heap"
            if i % 3 == 0 { index.insert(s, value: i) }
            let expected: Int? = i % 3 == 0 ? i : nil
            #expect(index.find(s) == expected)
        }
    }
}
