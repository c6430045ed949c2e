import Testing

@Test func DiffTestsBuilds() {
    #expect(Bool(true))
}
