from services.notification_consumer.app import create_app
from services.notification_consumer.typedefs import SERVICE
from shared.http.main import serve

if __name__ == "__main__":
    serve(SERVICE, create_app, lambda settings: settings.notification_consumer_port)
