package eval

// ReferenceSubset is referenceSubset for the external tests: the test
// examples a metric of N examples and this seed compares with.
var ReferenceSubset = referenceSubset
