import Testing

@Test func harnessTestsBuilds() {
    #expect(Bool(true))
}
