from services.booking_api.app import SERVICE, create_app
from shared.http.main import serve

if __name__ == "__main__":
    serve(SERVICE, create_app, lambda settings: settings.booking_api_port)
