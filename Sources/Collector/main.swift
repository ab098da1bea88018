import Hummingbird
import GRDB
import Prometheus
import HummingbirdTLS
import HummingbirdBcrypt
import Crypto
import Yams
print("collector")
