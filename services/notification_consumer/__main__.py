from services.notification_consumer.app import SERVICE, create_app
from shared.http.main import serve

if __name__ == "__main__":
    serve(SERVICE, create_app, lambda settings: settings.notification_consumer_port)
