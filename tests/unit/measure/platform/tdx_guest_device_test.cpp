// SPDX-License-Identifier: Apache-2.0
#include "ccfde/measure/tdx_guest_device.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "ccfde/testing/testdata.h"
#include "fakes.h"

namespace ccfde::measure {
namespace {

using namespace std::chrono_literals;
using fakes::frame;
using fakes::qgs_response;

std::chrono::steady_clock::time_point soon() {
  return std::chrono::steady_clock::now() + 5s;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

ReportData sample_report_data() {
  ReportData data{};
  data.fill(0xAB);
  data[0] = 0x01;
  return data;
}

TEST(QgsMessages, GetQuoteRequestLayout) {
  TdReport report{};
  for (std::size_t i = 0; i < report.size(); ++i) report[i] = static_cast<std::uint8_t>(i);
  const Bytes message = encode_qgs_get_quote_request(report);
  ASSERT_EQ(message.size(), 1048u);
  const Bytes header(message.begin(), message.begin() + 24);
  EXPECT_EQ(hex_encode(header),
            "01000100"    // major 1, minor 1
            "00000000"    // GET_QUOTE_REQ
            "18040000"    // size 1048
            "00000000"    // error_code
            "00040000"    // report_size 1024
            "00000000");  // id_list_size 0
  EXPECT_TRUE(std::equal(report.begin(), report.end(), message.begin() + 24));
}

TEST(QgsMessages, DecodesAResponse) {
  const Bytes id{0xAA, 0xBB, 0xCC, 0xDD};
  const Bytes quote(700, 0x42);
  auto response = decode_qgs_get_quote_response(qgs_response(0, id, quote));
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->major_version, 1);
  EXPECT_EQ(response->minor_version, 1);
  EXPECT_EQ(response->error_code, 0u);
  EXPECT_EQ(response->selected_id, id);
  EXPECT_EQ(response->quote, quote);
}

TEST(QgsMessages, ErrorResponsesNeedOnlyAHeader) {
  Bytes message = qgs_response(0x00012001, {}, {});
  message.resize(16);
  message[8] = 16;  // size
  auto response = decode_qgs_get_quote_response(message);
  ASSERT_TRUE(response.ok()) << response.status().to_string();
  EXPECT_EQ(response->error_code, 0x00012001u);
  EXPECT_TRUE(response->quote.empty());
}

TEST(QgsMessages, RejectsInconsistentResponses) {
  const Bytes quote(700, 0x42);
  auto wrong_major = decode_qgs_get_quote_response(qgs_response(0, {}, quote, 2));
  EXPECT_EQ(wrong_major.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_TRUE(contains(wrong_major.status().message(), "major_version at offset 0 is 2"));

  auto wrong_type = decode_qgs_get_quote_response(qgs_response(0, {}, quote, 1, 0));
  EXPECT_EQ(wrong_type.status().code(), ErrorCode::kMalformed);
  EXPECT_TRUE(contains(wrong_type.status().message(), "type at offset 4 is 0"));

  Bytes extra = qgs_response(0, {}, quote);
  extra.push_back(0);
  auto wrong_size = decode_qgs_get_quote_response(extra);
  EXPECT_EQ(wrong_size.status().code(), ErrorCode::kMalformed);
  EXPECT_TRUE(contains(wrong_size.status().message(), "size at offset 8 is 724"));

  Bytes overlong = qgs_response(0, {}, quote);
  overlong[20] = 0xFF;  // quote_size low byte: 700 -> 767
  auto wrong_quote_size = decode_qgs_get_quote_response(overlong);
  EXPECT_EQ(wrong_quote_size.status().code(), ErrorCode::kMalformed);

  Bytes huge = qgs_response(0, {}, quote);
  huge[16] = huge[17] = huge[18] = huge[19] = 0xFF;  // selected_id_size 0xFFFFFFFF
  EXPECT_EQ(decode_qgs_get_quote_response(huge).status().code(), ErrorCode::kMalformed);

  const Bytes short_header(10, 0);
  EXPECT_EQ(decode_qgs_get_quote_response(short_header).status().code(), ErrorCode::kTruncated);
  Bytes no_sizes = qgs_response(0, {}, {});
  no_sizes.resize(20);
  no_sizes[8] = 20;
  EXPECT_EQ(decode_qgs_get_quote_response(no_sizes).status().code(), ErrorCode::kTruncated);
}

TEST(QgsExchange, FramesTheRequestAndReassemblesTheResponse) {
  auto peer = std::make_shared<fakes::QgsPeerState>();
  const Bytes response(3000, 0x77);
  peer->response_stream = frame(response);
  peer->chunk = 7;
  fakes::FakeQgsConnection connection(peer);
  const Bytes request{1, 2, 3, 4, 5};
  auto got = qgs_exchange(connection, request, soon());
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(*got, response);
  EXPECT_EQ(hex_encode(peer->received), "000000050102030405");
}

TEST(QgsExchange, ShortReadIsTruncated) {
  auto peer = std::make_shared<fakes::QgsPeerState>();
  Bytes stream = frame(Bytes(100, 1));
  stream.resize(4 + 40);
  peer->response_stream = stream;
  fakes::FakeQgsConnection connection(peer);
  auto got = qgs_exchange(connection, Bytes{1}, soon());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), ErrorCode::kTruncated);
  EXPECT_TRUE(contains(got.status().message(), "after 40 of the 100 bytes of the response"))
      << got.status().message();

  auto header_only = std::make_shared<fakes::QgsPeerState>();
  header_only->response_stream = Bytes{0, 0};
  fakes::FakeQgsConnection cut(header_only);
  auto cut_prefix = qgs_exchange(cut, Bytes{1}, soon());
  EXPECT_EQ(cut_prefix.status().code(), ErrorCode::kTruncated);
  EXPECT_TRUE(contains(cut_prefix.status().message(), "response length"));
}

TEST(QgsExchange, RejectsImpossibleLengths) {
  for (const Bytes& prefix : {Bytes{0, 0, 0, 0}, Bytes{0x00, 0x10, 0x00, 0x01}}) {
    auto peer = std::make_shared<fakes::QgsPeerState>();
    peer->response_stream = prefix;
    fakes::FakeQgsConnection connection(peer);
    auto got = qgs_exchange(connection, Bytes{1}, soon());
    EXPECT_EQ(got.status().code(), ErrorCode::kMalformed) << hex_encode(prefix);
  }
}

class SocketPair {
 public:
  SocketPair() {
    int fds[2] = {-1, -1};
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client = UniqueFd(fds[0]);
    server = UniqueFd(fds[1]);
  }
  UniqueFd client;
  UniqueFd server;
};

// A socketpair stands in for vsock: the code path above the socket family is the same.
TEST(FdStreamConnection, ExchangesWithAPeerOverASocket) {
  SocketPair pair;
  const Bytes quote(5000, 0x35);
  const Bytes response = qgs_response(0, {9, 9}, quote);
  Bytes received;
  std::thread server([&, fd = pair.server.get()] {
    std::uint8_t buffer[2048];
    // Read the framed 1048-byte request, then answer in two writes.
    while (received.size() < 4 + 1048) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) return;
      received.insert(received.end(), buffer, buffer + n);
    }
    const Bytes framed = frame(response);
    const std::size_t half = framed.size() / 2;
    (void)!::write(fd, framed.data(), half);
    // The pause is the behaviour under test (an answer that arrives in two reads), not a wait.
    std::this_thread::sleep_for(10ms);
    (void)!::write(fd, framed.data() + half, framed.size() - half);
  });
  FdStreamConnection connection(std::move(pair.client));
  TdReport report{};
  report.fill(0x61);
  auto got = qgs_exchange(connection, encode_qgs_get_quote_request(report), soon());
  server.join();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(*got, response);
  ASSERT_EQ(received.size(), 4u + 1048u);
  EXPECT_EQ(hex_encode(Bytes(received.begin(), received.begin() + 4)), "00000418");
}

TEST(FdStreamConnection, SilentPeerHitsTheDeadline) {
  SocketPair pair;
  FdStreamConnection connection(std::move(pair.client));
  const auto start = std::chrono::steady_clock::now();
  auto got = qgs_exchange(connection, Bytes{1, 2, 3}, start + 50ms);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST(FdStreamConnection, ClosedPeerIsTruncated) {
  SocketPair pair;
  pair.server.reset();
  FdStreamConnection connection(std::move(pair.client));
  auto got = qgs_exchange(connection, Bytes{1}, soon());
  ASSERT_FALSE(got.ok());
  // Depending on timing the send fails (EPIPE) or the read sees the end of the stream.
  EXPECT_TRUE(got.status().code() == ErrorCode::kIoError ||
              got.status().code() == ErrorCode::kTruncated)
      << got.status().to_string();
}

struct TdxFixture {
  std::shared_ptr<fakes::TdxDeviceState> device = std::make_shared<fakes::TdxDeviceState>();
  std::shared_ptr<fakes::QgsPeerState> peer = std::make_shared<fakes::QgsPeerState>();
  TdxGuestDeviceSource source() {
    return TdxGuestDeviceSource(std::make_unique<fakes::FakeTdxDevice>(device),
                                std::make_unique<fakes::FakeQgsConnector>(peer));
  }
};

TEST(TdxGuestDeviceSource, QuoteFromTheQgs) {
  CCFDE_LOAD_TESTDATA(quote, "go-tdx-guest/cos-113-tdx-quote.dat");
  TdxFixture f;
  f.peer->response_stream = frame(qgs_response(0, {1, 2, 3, 4}, quote));
  auto source = f.source();
  auto evidence = source.get_evidence(sample_report_data());
  ASSERT_TRUE(evidence.ok()) << evidence.status().to_string();
  EXPECT_EQ(evidence->tee, TeeKind::kTdx);
  EXPECT_EQ(evidence->primary, quote);
  EXPECT_TRUE(evidence->auxiliary.empty());
  EXPECT_TRUE(contains(evidence->source, "/fake/tdx_guest"));
  EXPECT_TRUE(contains(evidence->source, "fake qgs"));
  const ReportData expected = sample_report_data();
  EXPECT_EQ(f.device->reportdata, Bytes(expected.begin(), expected.end()));
  // The QGS got [BE length 1048][request header][TDREPORT with REPORTDATA at 128].
  ASSERT_EQ(f.peer->received.size(), 4u + 1048u);
  EXPECT_TRUE(
      std::equal(expected.begin(), expected.end(), f.peer->received.begin() + 4 + 24 + 128));
}

TEST(TdxGuestDeviceSource, QgsErrorCodeIsAFirmwareError) {
  TdxFixture f;
  f.peer->response_stream = frame(qgs_response(0x00012001, {}, {}));
  auto evidence = f.source().get_evidence(sample_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kFirmwareError);
  EXPECT_TRUE(contains(evidence.status().message(), "0x00012001 (QGS_MSG_ERROR_UNEXPECTED)"))
      << evidence.status().message();
}

TEST(TdxGuestDeviceSource, EmptyAndShortQuotesAreRejected) {
  TdxFixture f;
  f.peer->response_stream = frame(qgs_response(0, {}, {}));
  EXPECT_EQ(f.source().get_evidence(sample_report_data()).status().code(),
            ErrorCode::kFirmwareError);
  TdxFixture g;
  g.peer->response_stream = frame(qgs_response(0, {}, Bytes(100, 1)));
  EXPECT_EQ(g.source().get_evidence(sample_report_data()).status().code(), ErrorCode::kTruncated);
}

TEST(TdxGuestDeviceSource, IoctlFailureIsADeviceError) {
  TdxFixture f;
  f.device->failure_errno = EINVAL;
  auto evidence = f.source().get_evidence(sample_report_data());
  ASSERT_FALSE(evidence.ok());
  EXPECT_EQ(evidence.status().code(), ErrorCode::kDeviceError);
  EXPECT_EQ(evidence.status().sys_errno(), EINVAL);
  EXPECT_TRUE(contains(evidence.status().message(), "TDX_CMD_GET_REPORT0"));
  EXPECT_TRUE(f.peer->received.empty());
}

TEST(TdxGuestDeviceSource, TransportFailuresPropagate) {
  TdxFixture f;
  f.peer->connect_error = make_error(ErrorCode::kNotFound, "nothing listens");
  EXPECT_EQ(f.source().get_evidence(sample_report_data()).status().code(), ErrorCode::kNotFound);
  TdxFixture g;
  g.peer->receive_error = make_error(ErrorCode::kDeadlineExceeded, "slow QGS");
  auto slow = g.source().get_evidence(sample_report_data());
  EXPECT_EQ(slow.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(contains(slow.status().message(), "fake qgs"));
}

TEST(VsockConnector, AddressNamesCidAndPort) {
  EXPECT_EQ(VsockConnector().address(), "vsock cid 2 port 4050");
}

}  // namespace
}  // namespace ccfde::measure
