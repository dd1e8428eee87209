// Package aws is mirrorscope's AWS side: it creates and deletes VPC
// Traffic Mirroring targets, filters and sessions (Mirror), finds the
// instance it runs on with IMDSv2 (IMDS), fetches CloudWatch metrics in one
// GetMetricData call (FetchMetrics), checks a mirroring setup (Doctor) and
// removes what a crashed run left behind (Cleanup).
//
// It is the only package of the module that imports aws-sdk-go-v2, and it
// imports only the SDK's core: config (credentials and region, from the
// environment, shared files, SSO or the instance role), the SigV4 signer
// and the standard retryer. The EC2, CloudWatch and ELBv2 calls themselves
// are a small typed client for the AWS Query protocol (form-encoded POST,
// XML response) written against the API reference, because the generated
// service/ec2 module alone takes over a minute and 3 GB of memory to
// compile and adds megabytes to every mirrorscope command
// (docs/benchmarks.md). Every call goes through one function (Client.call)
// so that the IAM policy in policy.go can be checked against the code.
//
// Endpoints are overridable (Config.Endpoints, from AWS_ENDPOINT_URL_EC2,
// AWS_ENDPOINT_URL_CLOUDWATCH, AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2
// or AWS_ENDPOINT_URL; IMDS from AWS_EC2_METADATA_SERVICE_ENDPOINT): the
// tests run everything against the fake in internal/aws/awsfake.
//
// Nothing here keeps package state or starts goroutines.
package aws
