from services.provider_consumer.app import create_app
from services.provider_consumer.typedefs import SERVICE
from shared.http.main import serve

if __name__ == "__main__":
    serve(SERVICE, create_app, lambda settings: settings.provider_consumer_port)
